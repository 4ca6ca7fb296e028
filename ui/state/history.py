"""History: a student's practice sessions, newest first, a page at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from ui.format import difficulty_text, readable_time
from ui.state.base import AppState
from ui.state.conversation import STATUS_LABELS


@dataclasses.dataclass
class PastSession:
    id: str = ""
    client: str = ""
    difficulty: str = ""
    assignment: str = ""
    started: str = ""
    status: str = ""  # ACTIVE | COMPLETED
    status_label: str = ""
    messages: int = 0
    rating: int = 0  # 0: not rated

    @classmethod
    def of(cls, node: dict[str, Any]) -> PastSession:
        client = node.get("clientProfile") or {}
        return cls(
            id=node["id"],
            client=client.get("name", "A client no longer available"),
            difficulty=difficulty_text(client["difficulty"]) if client else "",
            assignment=(node.get("assignment") or {}).get("title", ""),
            started=readable_time(node["startedAt"]),
            status=node["status"],
            status_label=STATUS_LABELS.get(node["status"], node["status"]),
            messages=node["messageCount"],
            rating=(node.get("feedback") or {}).get("rating", 0),
        )


class HistoryState(AppState):
    loading: bool = True
    loading_more: bool = False
    error: str = ""
    sessions: list[PastSession] = []
    has_more: bool = False
    _cursor: str | None = None

    @rx.event
    async def load(self):
        if not self.signed_in:
            return
        self.loading, self.error, self.sessions, self._cursor = True, "", [], None
        yield
        yield await self._next_page()
        self.loading = False

    @rx.event
    async def load_more(self):
        self.loading_more = True
        yield
        yield await self._next_page()
        self.loading_more = False

    async def _next_page(self):
        reply = await self._call("StudentHistory", after=self._cursor)
        if reply.failed:
            self.error = f"{reply.message} Reload the page to try again."
            return reply.redirect
        data = reply.data["sessions"]
        self.sessions = [*self.sessions, *(PastSession.of(n) for n in data["nodes"])]
        self.has_more = data["pageInfo"]["hasNextPage"]
        self._cursor = data["pageInfo"]["endCursor"]
        return None
