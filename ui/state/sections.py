"""The teacher's sections: join codes, enrolled students and each section's assignments."""

from __future__ import annotations

import dataclasses

import reflex as rx

from ui.format import readable_time
from ui.state.base import AppState


@dataclasses.dataclass
class Student:
    id: str = ""
    name: str = ""
    email: str = ""


@dataclasses.dataclass
class SectionAssignment:
    id: str = ""
    title: str = ""
    published: bool = False
    due: str = ""


@dataclasses.dataclass
class SectionRow:
    id: str = ""
    name: str = ""
    join_code: str = ""
    teacher: str = ""
    students_label: str = ""
    assignments_label: str = ""
    students: list[Student] = dataclasses.field(default_factory=list)
    assignments: list[SectionAssignment] = dataclasses.field(default_factory=list)


def _plural(n: int, one: str, more: bool = False) -> str:
    shown = f"{n}+" if more else str(n)
    return f"{shown} {one}" if n == 1 and not more else f"{shown} {one}s"


def _row(node: dict) -> SectionRow:
    students = node["students"]
    assignments = node["assignments"]["nodes"]
    return SectionRow(
        id=node["id"],
        name=node["name"],
        join_code=node["joinCode"] or "",
        teacher=(node["teacher"] or {}).get("name", ""),
        students_label=_plural(
            len(students["nodes"]), "student", students["pageInfo"]["hasNextPage"]
        ),
        assignments_label=_plural(len(assignments), "assignment"),
        students=[Student(s["id"], s["name"], s["email"]) for s in students["nodes"]],
        assignments=[
            SectionAssignment(
                a["id"], a["title"], a["status"] == "PUBLISHED", readable_time(a["dueAt"])
            )
            for a in assignments
        ],
    )


class SectionsState(AppState):
    sections: list[SectionRow] = []
    loading: bool = True
    error: str = ""
    open_id: str = ""  # the section whose students and assignments are shown
    copied_id: str = ""

    new_name: str = ""
    name_error: str = ""
    create_error: str = ""
    created: str = ""
    creating: bool = False

    @rx.event
    def set_new_name(self, value: str):
        self.new_name = value
        self.name_error = ""

    @rx.event
    def open(self):
        """`on_load`: what the last visit said or was typing belongs to that visit."""
        self.new_name = self.name_error = self.create_error = self.created = ""
        self.copied_id, self.creating = "", False
        return SectionsState.load

    @rx.event
    async def load(self):
        self.error = ""
        self.loading = not self.sections  # a reload keeps the list in view
        yield
        reply = await self._call("TeacherSections")
        self.loading = False
        if reply.failed:
            self.error = f"Your sections could not be loaded. {reply.message}"
            yield reply.redirect
            return
        self.sections = [_row(node) for node in reply.data["sections"]["nodes"]]

    @rx.event
    def toggle(self, section_id: str):
        self.open_id = "" if self.open_id == section_id else section_id

    @rx.event
    def copy_code(self, section_id: str, code: str):
        self.copied_id = section_id
        return rx.set_clipboard(code)

    @rx.event
    async def create(self, _form: dict):
        self.name_error = self.create_error = self.created = ""
        name = self.new_name.strip()
        if not name:
            self.name_error = "Give the section a name, for example “Counselling Skills, spring”."
            return
        self.creating = True
        yield
        reply = await self._call("CreateSection", name=name)
        self.creating = False
        if reply.failed:
            self.name_error = reply.field("name")
            self.create_error = "" if self.name_error else reply.message
            yield reply.redirect
            return
        section = reply.data["createSection"]["section"]
        self.new_name = ""
        self.created = (
            f"Section “{section['name']}” created. Students join it with the code "
            f"{section['joinCode']}."
        )
        self.open_id = section["id"]
        yield SectionsState.load
