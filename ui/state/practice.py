"""Practice: the clients a student may practise with, and joining a section."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ui import routes
from ui.format import difficulty_text, readable_date
from ui.state.base import AppState


@dataclasses.dataclass
class PracticeClient:
    id: str = ""
    name: str = ""
    difficulty: str = ""  # 'Moderate · 3/5'
    level: int = 0
    concern: str = ""
    assignment: str = ""  # 'First sessions · Counselling Skills 101 · due 3 Dec 2026'
    assignment_id: str = ""
    active_session: str = ""  # the session to resume, if any


def _assignment_line(assignment: dict[str, Any]) -> str:
    parts = [assignment["title"], (assignment.get("section") or {}).get("name", "")]
    if assignment.get("dueAt"):
        parts.append(f"due {readable_date(assignment['dueAt'])}")
    return " · ".join(p for p in parts if p)


def _clients(data: dict[str, Any]) -> list[PracticeClient]:
    assignments = data["assignments"]["nodes"]
    active = {
        s["clientProfile"]["id"]: s["id"]
        for s in data["sessions"]["nodes"]
        if s.get("clientProfile")
    }
    clients = []
    for profile in data["clientProfiles"]["nodes"]:
        mine = [a for a in assignments if profile["id"] in {c["id"] for c in a["clientProfiles"]}]
        clients.append(
            PracticeClient(
                id=profile["id"],
                name=profile["name"],
                difficulty=difficulty_text(profile["difficulty"]),
                level=profile["difficulty"],
                concern=profile["presentingConcern"],
                assignment="; ".join(_assignment_line(a) for a in mine),
                assignment_id=mine[0]["id"] if mine else "",
                active_session=active.get(profile["id"], ""),
            )
        )
    return sorted(clients, key=lambda c: (c.level, c.name))


class PracticeState(AppState):
    loading: bool = True
    error: str = ""
    clients: list[PracticeClient] = []
    starting: str = ""  # the client whose session is being started
    join_code: str = ""
    join_error: str = ""
    joined: str = ""  # what joining a section did, e.g. "You joined Group 1."
    joining: bool = False

    @rx.event
    def open(self):
        """`on_load`: what joining said last time belongs to that visit."""
        self.joined = self.join_error = self.join_code = self.starting = ""
        self.joining = False
        return PracticeState.load

    @rx.event
    async def load(self):
        if not self.signed_in:
            return
        self.loading, self.error = True, ""
        yield
        reply = await self._call("StudentPractice")
        self.loading = False
        if reply.failed:
            self.error = f"{reply.message} Reload the page to try again."
            yield reply.redirect
            return
        self.clients = _clients(reply.data)

    @rx.event
    async def start(self, client_id: str, assignment_id: str):
        self.starting, self.error = client_id, ""
        yield
        reply = await self._call(
            "StudentStartSession", clientId=client_id, assignmentId=assignment_id or None
        )
        if reply.failed:
            self.starting = ""
            self.error = reply.message
            yield reply.redirect
            return
        yield rx.redirect(routes.session(reply.data["startSession"]["session"]["id"]))

    @rx.event
    def set_join_code(self, value: str):
        self.join_code, self.join_error = value, ""

    @rx.event
    async def join(self, _form: dict):
        code = self.join_code.strip()
        self.joined = ""
        if not code:
            self.join_error = "Enter the join code your teacher gave you."
            return
        self.joining = True
        yield
        reply = await self._call("StudentJoinSection", joinCode=code)
        self.joining = False
        if reply.failed:
            self.join_error = reply.field("joinCode", reply.message)
            yield reply.redirect
            return
        joined = reply.data["joinSection"]
        name = joined["section"]["name"]
        self.joined = (
            f"You're already in {name}." if joined["alreadyMember"] else f"You joined {name}."
        )
        self.join_code = ""
        yield PracticeState.load
