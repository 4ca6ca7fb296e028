"""The error log: error events, newest first, filtered by category, session and dates."""

from __future__ import annotations

import uuid
from typing import Any

import reflex as rx

from ui import routes
from ui.format import readable_time
from ui.state.base import AppState
from ui.state.paged_log import PagedLogState

ALL = "all"  # a select item needs a value; "all" stands for no category filter

CATEGORIES = [
    (ALL, "All categories"),
    ("provider", "Provider: any"),
    ("provider.rate_limited", "Provider: rate limited"),
    ("provider.overloaded", "Provider: overloaded"),
    ("provider.server", "Provider: server error"),
    ("provider.connection", "Provider: connection"),
    ("provider.timeout", "Provider: timeout"),
    ("provider.stream_cut", "Provider: stream cut off"),
    ("provider.bad_request", "Provider: bad request"),
    ("provider.auth", "Provider: key refused"),
    ("provider.unavailable", "Provider: unavailable"),
    ("prompt_leak", "Reply repeated its prompt"),
]


def _row(event: dict[str, Any]) -> dict[str, str]:
    session_id = event["sessionId"] or ""
    status = event["upstreamStatus"]
    return {
        "id": event["id"],
        "time": readable_time(event["createdAt"]),
        "category": event["category"],
        "message": event["message"],
        "status": "—" if status is None else str(status),
        "model": event["model"] or "—",
        "request_id": event["requestId"] or "—",
        "session_id": session_id,
        "session_href": routes.transcript(session_id) if session_id else "",
    }


class AdminErrorsState(PagedLogState, AppState):
    OPERATION = "AdminErrorEvents"
    CONNECTION = "errorEvents"

    category: str = ALL
    session_id: str = ""
    session_id_error: str = ""
    since_error: str = ""
    until_error: str = ""

    @rx.event
    def set_category(self, value: str):
        self.category = value

    @rx.event
    def set_session_id(self, value: str):
        self.session_id = value

    @rx.event
    async def load(self):
        if self.user_role != "ADMIN":
            return None
        return await self._first_page()

    @rx.event
    async def apply(self, form: dict):
        # The form's own values: a change still on its way from a field cannot be missed.
        self.category = form.get("category") or ALL
        self.session_id = form.get("session_id", "")
        self.since, self.until = form.get("since", ""), form.get("until", "")
        if not self._filters_valid():
            return None
        return await self._first_page()

    @rx.event
    async def clear(self):
        self.category, self.session_id, self.since, self.until = ALL, "", "", ""
        self.session_id_error = self.since_error = self.until_error = ""
        return await self._first_page()

    def _field_errors(self, reply) -> None:
        self.session_id_error = reply.field("sessionId")

    def _filters_valid(self) -> bool:
        self.session_id_error = self.since_error = self.until_error = ""
        if self.session_id.strip():
            try:
                uuid.UUID(self.session_id.strip())
            except ValueError:
                self.session_id_error = (
                    "That is not a practice session id. Copy it from the session's address, "
                    "or leave this empty."
                )
        if self.since and self.until and self.until < self.since:
            self.until_error = "Choose a day on or after the “From” day."
        return not (self.session_id_error or self.until_error)

    def _filter(self) -> dict[str, str]:
        where: dict[str, str] = {}
        if self.category != ALL:
            where["category"] = self.category
        if self.session_id.strip():
            where["sessionId"] = self.session_id.strip()
        return self._days(where)

    def _row(self, node: dict[str, Any]) -> dict[str, str]:
        return _row(node)

    @rx.var
    def filtered(self) -> bool:
        return bool(self.category != ALL or self.session_id or self.since or self.until)
