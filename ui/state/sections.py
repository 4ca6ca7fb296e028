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
    sign_up_open: bool = True
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
        sign_up_open=bool(node.get("signUpOpen", True)),
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


@dataclasses.dataclass
class RosterResult:
    """One row of a roster import, as the teacher sees it."""

    line: int = 0
    email: str = ""
    name: str = ""
    status: str = ""  # CREATED | ENROLLED | ALREADY_ENROLLED | REJECTED
    label: str = ""
    message: str = ""
    invite_url: str = ""
    emailed: bool = False


ROSTER_LABELS = {
    "CREATED": "Invited",
    "ENROLLED": "Enrolled",
    "ALREADY_ENROLLED": "Already in",
    "REJECTED": "Not added",
}
ROSTER_MAX_BYTES = 60 * 1024  # an upload larger than a request may be is refused here


class SectionsState(AppState):
    sections: list[SectionRow] = []
    loading: bool = True
    error: str = ""
    open_id: str = ""  # the section whose students and assignments are shown
    copied_id: str = ""

    # Roster import into the open section: the class list, and what the import did.
    roster_text: str = ""
    roster_error: str = ""
    roster_summary: str = ""
    roster_rows: list[RosterResult] = []
    importing: bool = False
    copied_link: str = ""

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
        self._clear_roster()
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
        self._clear_roster()

    def _clear_roster(self) -> None:
        self.roster_text = self.roster_error = self.roster_summary = self.copied_link = ""
        self.roster_rows, self.importing = [], False

    @rx.event
    def set_roster_text(self, value: str):
        self.roster_text = value
        self.roster_error = ""

    @rx.event
    async def read_roster_file(self, files: list[rx.UploadFile]):
        """An uploaded CSV fills the class list, to check before importing."""
        for file in files[:1]:
            data = await file.read()
            if len(data) > ROSTER_MAX_BYTES:
                self.roster_error = "That file is too large: at most 60 KB (about 1,000 people)."
                return
            try:
                self.roster_text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.roster_error = "That file is not text: save the class list as CSV (UTF-8)."
                return
            self.roster_error = ""

    @rx.event
    async def import_roster(self, _form: dict):
        self.roster_error = self.roster_summary = self.copied_link = ""
        if not self.roster_text.strip():
            self.roster_error = "Paste or upload a class list first: one email and name a line."
            return
        self.importing = True
        yield
        reply = await self._call(
            "ImportRoster", input={"sectionId": self.open_id, "csv": self.roster_text}
        )
        self.importing = False
        if reply.failed:
            self.roster_error = reply.field("csv") or reply.message
            yield reply.redirect
            return
        result = reply.data["importRoster"]
        self.roster_rows = [
            RosterResult(
                line=row["line"],
                email=row["email"],
                name=row["name"],
                status=row["status"],
                label=ROSTER_LABELS.get(row["status"], row["status"]),
                message=row["message"],
                invite_url=row["inviteUrl"] or "",
                emailed=row["emailed"],
            )
            for row in result["rows"]
        ]
        emailed = any(row.emailed for row in self.roster_rows)
        links = "Their invites were emailed." if emailed else "Copy each invite link to them."
        self.roster_summary = (
            f"{result['created']} invited, {result['enrolled']} enrolled, "
            f"{result['rejected']} not added." + (f" {links}" if result["created"] else "")
        )
        self.roster_text = ""
        yield SectionsState.load

    @rx.event
    def copy_link(self, url: str):
        self.copied_link = url
        return rx.set_clipboard(url)

    @rx.event
    async def set_sign_up(self, section_id: str, open_: bool):
        reply = await self._call("SetSectionSignUp", id=section_id, open=open_)
        if reply.failed:
            self.error = reply.message
            yield reply.redirect
            return
        for section in self.sections:
            if section.id == section_id:
                section.sign_up_open = reply.data["setSectionSignUp"]["section"]["signUpOpen"]
        self.sections = list(self.sections)

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
