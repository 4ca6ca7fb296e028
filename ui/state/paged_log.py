"""What the admin's logs (errors, audit) share: a day range, and pages of rows read with
"Load more" from a GraphQL connection."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, ClassVar

import reflex as rx

PAGE_SIZE = 25


def _start_of(day: str) -> str:
    return f"{day}T00:00:00Z"


class PagedLogState(rx.State, mixin=True):
    """A log page (mixed into an AppState): `OPERATION` reads `CONNECTION` with the filter
    `_filter()` builds, and `_row` turns each node into a table row. A mixin, not a base
    state: Reflex binds a base state's event handlers to the base's own substate."""

    OPERATION: ClassVar[str]
    CONNECTION: ClassVar[str]

    since: str = ""  # YYYY-MM-DD, from the date input
    until: str = ""
    rows: list[dict[str, str]] = []
    cursor: str = ""
    has_more: bool = False
    loading: bool = True
    loading_more: bool = False
    error: str = ""

    @rx.event
    def set_since(self, value: str):
        self.since = value

    @rx.event
    def set_until(self, value: str):
        self.until = value

    @rx.event
    async def load_more(self):
        self.loading_more = True
        yield
        redirect = await self._fetch(after=self.cursor)
        self.loading_more = False
        if redirect is not None:
            yield redirect

    async def _first_page(self):
        self.loading, self.rows, self.has_more = True, [], False
        redirect = await self._fetch(after=None)
        self.loading = False
        return redirect

    async def _fetch(self, after: str | None):
        """Add the next page of rows; returns a redirect when the sign-in expired."""
        self.error = ""
        reply = await self._call(
            self.OPERATION, filter=self._filter(), first=PAGE_SIZE, after=after
        )
        if reply.failed:
            self.error = reply.message
            self._field_errors(reply)
            return reply.redirect
        connection = reply.data[self.CONNECTION]
        self.rows = [*self.rows, *[self._row(node) for node in connection["nodes"]]]
        self.has_more = connection["pageInfo"]["hasNextPage"]
        self.cursor = connection["pageInfo"]["endCursor"] or ""
        return None

    def _days(self, where: dict[str, str]) -> dict[str, str]:
        """`where` with the chosen days: "To" includes that whole day (the API's `until`
        is exclusive)."""
        if self.since:
            where["since"] = _start_of(self.since)
        if self.until:
            where["until"] = _start_of((date.fromisoformat(self.until) + timedelta(1)).isoformat())
        return where

    def _filter(self) -> dict[str, str]:
        raise NotImplementedError

    def _row(self, node: dict[str, Any]) -> dict[str, str]:
        raise NotImplementedError

    def _field_errors(self, reply) -> None:
        """Show the API's complaints about single filter fields (none by default)."""
