"""The teacher's assignments: which clients a section practises with, by when; publishing."""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import reflex as rx

from ui.format import readable_time
from ui.graphql.client import ApiError
from ui.state.base import AppState
from ui.theme import DIFFICULTY_LABELS

END_OF_DAY = "23:59"
NO_RUBRIC = "NONE"  # the rubric select's "no rubric" (a select item cannot have an empty value)
FORM_FIELDS = {"sectionId", "title", "instructions", "dueAt", "clientProfileIds"}


@dataclasses.dataclass
class Option:
    id: str = ""
    name: str = ""


@dataclasses.dataclass
class ClientChoice:
    id: str = ""
    name: str = ""
    difficulty: str = ""  # "3 · Moderate"


@dataclasses.dataclass
class AssignmentRow:
    id: str = ""
    title: str = ""
    instructions: str = ""
    published: bool = False
    due: str = ""
    published_at: str = ""
    clients: list[ClientChoice] = dataclasses.field(default_factory=list)
    rubric_id: str = NO_RUBRIC
    release_on_completion: bool = False


@dataclasses.dataclass
class SectionGroup:
    id: str = ""
    name: str = ""
    assignments: list[AssignmentRow] = dataclasses.field(default_factory=list)


def _client(node: dict) -> ClientChoice:
    level = node["difficulty"]
    return ClientChoice(node["id"], node["name"], f"{level} · {DIFFICULTY_LABELS.get(level, '')}")


def _assignment(node: dict) -> AssignmentRow:
    return AssignmentRow(
        id=node["id"],
        title=node["title"],
        instructions=node["instructions"],
        published=node["status"] == "PUBLISHED",
        due=readable_time(node["dueAt"]),
        published_at=readable_time(node["publishedAt"]),
        clients=[_client(c) for c in node["clientProfiles"]],
        rubric_id=(node.get("rubric") or {}).get("id", NO_RUBRIC),
        release_on_completion=bool(node.get("releaseFeedbackOnCompletion")),
    )


def _due_at(day: str, time: str) -> str:
    """The due date as the API takes it (UTC), or "" for none; raises ValueError."""
    if not day and not time:
        return ""
    if not day:
        raise ValueError("Choose a date as well as a time, or clear the time.")
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValueError("Enter the date as YYYY-MM-DD.") from None
    time = time or END_OF_DAY
    if not re.fullmatch(r"\d{2}:\d{2}", time):
        raise ValueError("Enter the time as HH:MM (24-hour, UTC).")
    return f"{day}T{time}:00Z"


class AssignmentsState(AppState):
    groups: list[SectionGroup] = []
    sections: list[Option] = []
    clients: list[ClientChoice] = []
    rubrics: list[Option] = []  # the published ones, which assignments may use
    feedback_error: str = ""
    loading: bool = True
    error: str = ""
    message: str = ""

    form_open: bool = False
    section_id: str = ""
    title: str = ""
    instructions: str = ""
    due_day: str = ""
    due_time: str = ""
    chosen: list[str] = []
    saving: bool = False
    section_error: str = ""
    title_error: str = ""
    instructions_error: str = ""
    due_error: str = ""
    clients_error: str = ""
    form_error: str = ""

    confirm_id: str = ""  # the draft whose publishing waits for confirmation
    confirm_title: str = ""
    confirm_section: str = ""
    publishing: bool = False
    publish_error: str = ""

    @rx.event
    def set_section_id(self, value: str):
        self.section_id, self.section_error = value, ""

    @rx.event
    def set_title(self, value: str):
        self.title, self.title_error = value, ""

    @rx.event
    def set_instructions(self, value: str):
        self.instructions, self.instructions_error = value, ""

    @rx.event
    def set_due_day(self, value: str):
        self.due_day, self.due_error = value, ""

    @rx.event
    def set_due_time(self, value: str):
        self.due_time, self.due_error = value, ""

    @rx.event
    def toggle_client(self, client_id: str, checked: bool):
        chosen = [c for c in self.chosen if c != client_id]
        self.chosen = [*chosen, client_id] if checked else chosen
        self.clients_error = ""

    @rx.event
    def open_form(self):
        self.form_open, self.message = True, ""
        if not self.section_id and len(self.sections) == 1:
            self.section_id = self.sections[0].id

    @rx.event
    def close_form(self):
        self.form_open = False
        self._clear_errors()

    def _clear_errors(self) -> None:
        self.section_error = self.title_error = self.instructions_error = ""
        self.due_error = self.clients_error = self.form_error = ""

    def _clear_form(self) -> None:
        self.title = self.instructions = self.due_day = self.due_time = ""
        self.chosen = []

    @rx.event
    def open(self):
        """`on_load`: no dialog left open, no message or error from the last visit."""
        self.form_open, self.confirm_id, self.message = False, "", ""
        self.saving = self.publishing = False
        self.publish_error = ""
        self._clear_errors()
        return AssignmentsState.load

    @rx.event
    async def load(self):
        self.error = ""
        self.loading = not self.sections
        yield
        reply = await self._call("TeacherAssignments")
        self.loading = False
        if reply.failed:
            self.error = f"Your assignments could not be loaded. {reply.message}"
            yield reply.redirect
            return
        data = reply.data
        self.sections = [Option(s["id"], s["name"]) for s in data["sections"]["nodes"]]
        self.clients = [_client(c) for c in data["clientProfiles"]["nodes"]]
        self.rubrics = [
            Option(r["id"], r["name"])
            for r in data["rubrics"]["nodes"]
            if r["status"] == "PUBLISHED"
        ]
        self._group(data["assignments"]["nodes"])

    def _group(self, nodes: list[dict]) -> None:
        by_section = {s.id: SectionGroup(s.id, s.name) for s in self.sections}
        for node in nodes:
            section = node["section"] or {"id": "", "name": "No section"}
            group = by_section.setdefault(section["id"], SectionGroup(**section))
            group.assignments.append(_assignment(node))
        self.groups = list(by_section.values())

    @rx.event
    async def create(self, _form: dict):
        self._clear_errors()
        self.message = ""
        if not self.section_id:
            self.section_error = "Choose the section this assignment is for."
        try:
            due_at = _due_at(self.due_day, self.due_time)
        except ValueError as problem:
            self.due_error, due_at = str(problem), ""
        if self.section_error or self.due_error:
            return
        self.saving = True
        yield
        new = {
            "sectionId": self.section_id,
            "title": self.title,
            "instructions": self.instructions,
            "clientProfileIds": self.chosen,
            "dueAt": due_at or None,
        }
        reply = await self._call("CreateAssignment", input=new)
        self.saving = False
        if reply.failed:
            self._show_field_errors(reply.error)
            yield reply.redirect
            return
        created = reply.data["createAssignment"]
        self.form_open = False
        self._clear_form()
        self.message = (
            f"“{created['assignment']['title']}” is saved as a draft. Publish it when the "
            "section's students should see it."
        )
        yield AssignmentsState.load

    def _show_field_errors(self, error: ApiError) -> None:
        fields = error.fields
        self.section_error = fields.get("sectionId", "")
        self.title_error = fields.get("title", "")
        self.instructions_error = fields.get("instructions", "")
        self.due_error = fields.get("dueAt", "")
        self.clients_error = fields.get("clientProfileIds", "")
        shown_by_field = fields and set(fields) <= FORM_FIELDS
        self.form_error = "Please fix the fields marked below." if shown_by_field else error.message

    @rx.event
    def ask_publish(self, assignment_id: str, title: str, section: str):
        self.confirm_id, self.confirm_title, self.confirm_section = assignment_id, title, section
        self.publish_error = ""

    @rx.event
    def cancel_publish(self):
        self.confirm_id = ""

    @rx.event
    def confirm_open_change(self, is_open: bool):
        if not is_open:
            self.confirm_id = ""

    @rx.event
    async def publish(self):
        self.publishing, self.publish_error = True, ""
        yield
        reply = await self._call("PublishAssignment", id=self.confirm_id)
        self.publishing = False
        if reply.failed:
            self.publish_error = reply.message
            yield reply.redirect
            return
        self.confirm_id = ""
        self.message = (
            f"“{self.confirm_title}” is published: students of {self.confirm_section} can "
            "now practise with its clients."
        )
        yield AssignmentsState.load

    @rx.event
    async def set_rubric(self, assignment_id: str, rubric_id: str):
        self.feedback_error, self.message = "", ""
        reply = await self._call(
            "SetAssignmentRubric",
            assignmentId=assignment_id,
            rubricId=None if rubric_id == NO_RUBRIC else rubric_id,
        )
        if reply.failed:
            self.feedback_error = reply.field("rubricId") or reply.message
            yield reply.redirect
            return
        chosen = reply.data["setAssignmentRubric"]["assignment"]["rubric"]
        self.message = (
            f"Sessions of this assignment get feedback against “{chosen['name']}” when they end."
            if chosen
            else "This assignment's sessions no longer get rubric feedback."
        )
        yield AssignmentsState.load

    @rx.event
    async def set_release(self, assignment_id: str, on: bool):
        self.feedback_error, self.message = "", ""
        reply = await self._call(
            "SetFeedbackReleaseOnCompletion", assignmentId=assignment_id, on=on
        )
        if reply.failed:
            self.feedback_error = reply.message
            yield reply.redirect
            return
        self.message = (
            "Feedback on this assignment now reaches students as soon as it is ready."
            if on
            else "Feedback on this assignment now waits for you to release it."
        )
        yield AssignmentsState.load
