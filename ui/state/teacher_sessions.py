"""The teacher's view of their students' practice sessions, newest first, a page at a time."""

from __future__ import annotations

import dataclasses

import reflex as rx

from ui import routes
from ui.format import count, money, readable_time
from ui.state.base import AppState

PAGE_SIZE = 25
ALL = "ALL"  # the filters' "any" choice (a select item cannot have an empty value)
STATUS_LABELS = {"ACTIVE": "In progress", "COMPLETED": "Ended"}


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
    tokens: str = ""
    cost: str = ""
    rating: str = ""


@dataclasses.dataclass
class ClientFilter:
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
        tokens=count(node["totalTokens"]),
        cost=money(node["estimatedCost"]),
        rating=f"{feedback['rating']}/5" if feedback else "—",
    )


class TeacherSessionsState(AppState):
    rows: list[SessionRow] = []
    clients: list[ClientFilter] = []
    status: str = ALL
    client_id: str = ALL
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
    async def load_more(self):
        self.loading_more = True
        yield
        async for update in self._fetch(fresh=False):
            yield update

    def _filter(self) -> dict[str, str]:
        chosen = {"status": self.status, "clientId": self.client_id}
        return {key: value for key, value in chosen.items() if value != ALL}

    async def _fetch(self, fresh: bool):
        if fresh:
            self.loading, self.error = True, ""
            yield
        reply = await self._call(
            "TeacherSessions",
            filter=self._filter() or None,
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
        return self.status != ALL or self.client_id != ALL
