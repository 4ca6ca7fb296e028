"""A teacher's client profiles, a page at a time."""

from __future__ import annotations

import dataclasses

import reflex as rx

from ui.format import difficulty_text, readable_date
from ui.state.base import AppState

PAGE_SIZE = 24  # fills rows of 1, 2 or 3 cards


@dataclasses.dataclass
class ProfileRow:
    id: str = ""
    name: str = ""
    difficulty: int = 3
    difficulty_text: str = ""
    presenting_concern: str = ""
    model: str = ""
    version: int = 1
    updated: str = ""
    archived: bool = False
    owner: str = ""

    @classmethod
    def of(cls, node: dict) -> ProfileRow:
        return cls(
            id=node["id"],
            name=node["name"],
            difficulty=node["difficulty"],
            difficulty_text=difficulty_text(node["difficulty"]),
            presenting_concern=node["presentingConcern"],
            model=node["model"] or "Default model",
            version=node["version"],
            updated=readable_date(node["updatedAt"]),
            archived=node["archived"],
            owner=(node.get("owner") or {}).get("name", ""),
        )


class ProfilesState(AppState):
    rows: list[ProfileRow] = []
    show_archived: bool = False
    loading: bool = True
    loading_more: bool = False
    has_more: bool = False
    cursor: str = ""
    has_archived: bool = False  # when the list is empty: only because all are archived?
    error: str = ""

    @rx.event
    async def load(self):
        if self.user_role not in ("TEACHER", "ADMIN"):
            return
        self.loading, self.error = True, ""
        yield
        yield await self._fetch(after=None)

    @rx.event
    async def load_more(self):
        self.loading_more, self.error = True, ""
        yield
        yield await self._fetch(after=self.cursor)

    @rx.event
    async def set_show_archived(self, value: bool):
        self.show_archived = value
        self.loading, self.error = True, ""
        yield
        yield await self._fetch(after=None)

    async def _fetch(self, after: str | None):
        reply = await self._call(
            "TeacherProfiles", first=PAGE_SIZE, after=after, includeArchived=self.show_archived
        )
        if reply.failed:
            self.loading = self.loading_more = False
            self.error = reply.message
            return reply.redirect
        page = reply.data["clientProfiles"]
        rows = [ProfileRow.of(node) for node in page["nodes"]]
        self.rows = self.rows + rows if after else rows
        self.has_more = page["pageInfo"]["hasNextPage"]
        self.cursor = page["pageInfo"]["endCursor"] or ""
        self.has_archived = not self.rows and not self.show_archived and await self._any_archived()
        self.loading = self.loading_more = False
        return None

    async def _any_archived(self) -> bool:
        """For the empty list: are all of them archived, or are there none at all?"""
        reply = await self._call("TeacherProfiles", first=1, includeArchived=True)
        return bool(reply.data and reply.data["clientProfiles"]["nodes"])
