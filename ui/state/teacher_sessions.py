"""The teacher's view of their students' practice sessions, newest first, a page at a time."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import reflex as rx

from ui import routes
from ui.format import count, duration, money, readable_time
from ui.state.base import AppState

PAGE_SIZE = 25
ALL = "ALL"  # the filters' "any" choice (a select item cannot have an empty value)
STATUS_LABELS = {"ACTIVE": "In progress", "COMPLETED": "Ended"}
SORTS = {
    "NEWEST": "Newest first",
    "OLDEST": "Oldest first",
    "MOST_MESSAGES": "Most messages",
    "FEWEST_MESSAGES": "Fewest messages",
    "HIGHEST_COST": "Highest cost",
    "LOWEST_COST": "Lowest cost",
}


@dataclasses.dataclass
class SessionRow:
    id: str = ""
    href: str = ""
    student: str = ""
    client: str = ""
    started: str = ""
    active: bool = False
    status: str = ""
    messages: str = ""
    duration: str = ""
    assignment: str = ""
    watch_href: str = ""  # the live, read-only chat of an active session
    tokens: str = ""
    cost: str = ""
    rating: str = ""
    score: str = ""  # "78%", "Queued…", "—"
    released: bool = False


@dataclasses.dataclass
class ClientFilter:
    """A choice in one of the filters: an id and what to call it."""

    id: str = ""
    name: str = ""


def _row(node: dict) -> SessionRow:
    feedback = node["feedback"]
    return SessionRow(
        id=node["id"],
        href=routes.transcript(node["id"]),
        student=(node["student"] or {}).get("name", "—"),
        client=(node["clientProfile"] or {}).get("name", "—"),
        started=readable_time(node["startedAt"]),
        active=node["status"] == "ACTIVE",
        status=STATUS_LABELS.get(node["status"], node["status"]),
        messages=count(node["messageCount"]),
        duration=duration(node.get("durationSeconds")),
        assignment=(node.get("assignment") or {}).get("title", "—"),
        watch_href=routes.session(node["id"]) if node["status"] == "ACTIVE" else "",
        tokens=count(node["totalTokens"]),
        cost=money(node["estimatedCost"]),
        rating=f"{feedback['rating']}/5" if feedback else "—",
        score=_score(node.get("evaluation")),
        released=bool((node.get("evaluation") or {}).get("releasedAt")),
    )


EVALUATION_STATES = {"QUEUED": "Queued…", "RUNNING": "Running…", "FAILED": "Failed"}


def _score(evaluation: dict | None) -> str:
    if not evaluation:
        return "—"
    if evaluation["status"] != "COMPLETED" or evaluation.get("overallScore") is None:
        return EVALUATION_STATES.get(evaluation["status"], "—")
    return f"{(Decimal(str(evaluation['overallScore'])) * 100).quantize(Decimal(1))}%"


class TeacherSessionsState(AppState):
    rows: list[SessionRow] = []
    clients: list[ClientFilter] = []
    students: list[ClientFilter] = []
    assignments: list[ClientFilter] = []
    status: str = ALL
    client_id: str = ALL
    student_id: str = ALL
    assignment_id: str = ALL
    sort: str = "NEWEST"
    sections: list[ClientFilter] = []
    export_section: str = ""
    export_error: str = ""
    exporting: bool = False
    cursor: str = ""
    has_more: bool = False
    loading: bool = True
    loading_more: bool = False
    error: str = ""

    @rx.event
    async def load(self):
        self.loading, self.error = True, ""
        yield
        reply = await self._call("TeacherSessionClients")
        if reply.redirect:
            yield reply.redirect
            return
        clients = [] if reply.failed else reply.data["clientProfiles"]["nodes"]
        self.clients = [ClientFilter(c["id"], c["name"]) for c in clients]
        sections = [] if reply.failed else reply.data["sections"]["nodes"]
        self.sections = [ClientFilter(s["id"], s["name"]) for s in sections]
        if self.export_section not in {s.id for s in self.sections}:
            self.export_section = self.sections[0].id if self.sections else ""
        self.students = _choices(
            (s["id"], s["name"]) for section in sections for s in section["students"]["nodes"]
        )
        self.assignments = _choices(
            (a["id"], f"{a['title']} · {section['name']}")
            for section in sections
            for a in section["assignments"]["nodes"]
        )
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def set_status(self, value: str):
        self.status = value
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def set_client_id(self, value: str):
        self.client_id = value
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def set_student_id(self, value: str):
        self.student_id = value
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def set_assignment_id(self, value: str):
        self.assignment_id = value
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def set_sort(self, value: str):
        self.sort = value if value in SORTS else "NEWEST"
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    async def clear_filters(self):
        self.status = self.client_id = self.student_id = self.assignment_id = ALL
        async for update in self._fetch(fresh=True):
            yield update

    @rx.event
    def set_export_section(self, value: str):
        self.export_section, self.export_error = value, ""

    @rx.event
    async def export_csv(self):
        """The chosen section's sessions, with scores, measures and costs, as a CSV file."""
        self.exporting, self.export_error = True, ""
        yield
        reply = await self._call("ExportSectionSessions", sectionId=self.export_section)
        self.exporting = False
        if reply.failed:
            self.export_error = reply.message
            yield reply.redirect
            return
        file = reply.data["exportSectionSessions"]
        yield rx.download(data=file["content"], filename=file["filename"])

    @rx.event
    async def load_more(self):
        self.loading_more = True
        yield
        async for update in self._fetch(fresh=False):
            yield update

    def _filter(self) -> dict[str, str]:
        chosen = {
            "status": self.status,
            "clientId": self.client_id,
            "studentId": self.student_id,
            "assignmentId": self.assignment_id,
        }
        return {key: value for key, value in chosen.items() if value != ALL}

    async def _fetch(self, fresh: bool):
        if fresh:
            self.loading, self.error = True, ""
            yield
        reply = await self._call(
            "TeacherSessions",
            filter=self._filter() or None,
            sort=self.sort,
            first=PAGE_SIZE,
            after=None if fresh else self.cursor,
        )
        self.loading = self.loading_more = False
        if reply.failed:
            self.error = f"The sessions could not be loaded. {reply.message}"
            yield reply.redirect
            return
        sessions = reply.data["sessions"]
        rows = [_row(node) for node in sessions["nodes"]]
        self.rows = rows if fresh else [*self.rows, *rows]
        self.cursor = sessions["pageInfo"]["endCursor"] or ""
        self.has_more = sessions["pageInfo"]["hasNextPage"]

    @rx.var
    def filtered(self) -> bool:
        chosen = (self.status, self.client_id, self.student_id, self.assignment_id)
        return any(value != ALL for value in chosen)


def _choices(pairs) -> list[ClientFilter]:
    """Unique choices by id, sorted by name (a student may be in several sections)."""
    seen = dict(pairs)
    return sorted((ClientFilter(i, n) for i, n in seen.items()), key=lambda c: c.name.lower())
