"""Sections, enrollment by join code, and assignments of client profiles."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import Actor
from api.audit import service as audit
from api.classes import repository
from api.classes.errors import ClassesError
from api.classes.models import Assignment, AssignmentStatus, Enrollment, Section
from api.clients import service as clients
from api.config import Settings
from api.db.base import utcnow
from api.errors import FieldChecker, PracticumError
from api.pagination import Order, Page, PageRequest, paginate

JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
JOIN_CODE_LENGTH = 8
MAX_CLIENTS_PER_ASSIGNMENT = 20
SECTIONS_BY_NAME = Order((Section.name, Section.id))
NEWEST_ASSIGNMENTS = Order((Assignment.created_at, Assignment.id), descending=True)
STUDENTS_BY_NAME = Order((User.name, User.id))


def _require_teacher(actor: Actor, doing: str) -> None:
    if actor.is_student:
        raise ClassesError.forbidden(f"Only teachers and admins can {doing}.")


def can_manage(actor: Actor, section: Section) -> bool:
    return actor.is_admin or section.teacher_id == actor.id or actor.section_id == section.id


async def _new_join_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_LENGTH))
        if not await repository.join_code_taken(session, code):
            return code


# Sections


async def create_section(
    session: AsyncSession, actor: Actor, settings: Settings, name: str
) -> Section:
    _require_teacher(actor, "create sections")
    check = FieldChecker()
    name = check.text("name", name, label="Section name", max_chars=settings.max_name_chars)
    check.raise_if_any(ClassesError)
    section = Section(teacher_id=actor.id, name=name, join_code=await _new_join_code(session))
    await repository.add(session, section)
    return section


async def list_sections(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[Section]:
    return await paginate(session, repository.sections_visible_to(actor), SECTIONS_BY_NAME, page)


async def get_section(session: AsyncSession, actor: Actor, section_id: uuid.UUID) -> Section:
    section = await session.scalar(
        repository.sections_visible_to(actor).where(Section.id == section_id)
    )
    if section is None:
        raise ClassesError.not_found("Section")
    return section


async def get_managed_section(
    session: AsyncSession, actor: Actor, section_id: uuid.UUID
) -> Section:
    section = await get_section(session, actor, section_id)
    if not can_manage(actor, section):
        raise ClassesError.forbidden("Only the section's teacher can do that.")
    return section


async def set_signup_open(
    session: AsyncSession, actor: Actor, section_id: uuid.UUID, open_: bool
) -> Section:
    """Whether the section's join code also creates accounts (sign-up), or only enrols
    students who have one."""
    _require_teacher(actor, "change a section's sign-up")
    section = await get_managed_section(session, actor, section_id)
    if section.signup_open != open_:
        section.signup_open = open_
        await session.flush()
        details = {"open": open_}
        await audit.record(
            session, actor, audit.Action.SECTION_SIGNUP, "section", section.id, details
        )
    return section


async def join_section(session: AsyncSession, actor: Actor, join_code: str) -> tuple[Section, bool]:
    """The section with this join code, and whether the student was in it already."""
    if not actor.is_student:
        raise ClassesError.forbidden("Only students join sections with a join code.")
    code = repository.normalise_join_code(join_code)
    section = await repository.get_section_by_code(session, code) if code else None
    if section is None:
        raise ClassesError.invalid(
            "join_code", "No section has this join code. Check the code with your teacher."
        )
    already_member = await repository.get_enrollment(session, section.id, actor.id) is not None
    if not already_member:
        await repository.add(session, Enrollment(section_id=section.id, student_id=actor.id))
    return section, already_member


async def list_students(
    session: AsyncSession, actor: Actor, section_id: uuid.UUID, page: PageRequest
) -> Page[User]:
    section = await get_managed_section(session, actor, section_id)
    return await paginate(session, repository.students_of(section.id), STUDENTS_BY_NAME, page)


# Assignments


@dataclass
class AssignmentFields:
    title: str
    instructions: str = ""
    client_profile_ids: list[uuid.UUID] | None = None
    due_at: datetime | None = None


async def create_assignment(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    section_id: uuid.UUID,
    data: AssignmentFields,
) -> Assignment:
    _require_teacher(actor, "create assignments")
    section = await get_managed_section(session, actor, section_id)
    check = FieldChecker()
    title = check.text("title", data.title, label="Title", max_chars=settings.max_name_chars)
    instructions = check.text(
        "instructions",
        data.instructions or "",
        label="Instructions",
        max_chars=settings.max_text_chars,
        required=False,
    )
    ids = list(dict.fromkeys(data.client_profile_ids or []))
    if not ids:
        check.add("client_profile_ids", "Choose at least one client profile.")
    elif len(ids) > MAX_CLIENTS_PER_ASSIGNMENT:
        check.add("client_profile_ids", f"At most {MAX_CLIENTS_PER_ASSIGNMENT} client profiles.")
    if data.due_at is not None and data.due_at.tzinfo is None:
        check.add("due_at", "The due date needs a time zone (for example 2026-12-01T17:00:00Z).")
    check.raise_if_any(ClassesError)
    profiles = []
    for profile_id in ids:
        try:
            profile = await clients.get_profile(session, actor, profile_id)
        except PracticumError as exc:
            raise ClassesError.invalid(
                "client_profile_ids", f"Client profile {profile_id} was not found."
            ) from exc
        if profile.archived:
            raise ClassesError.invalid(
                "client_profile_ids", f"{profile.name} is archived; restore it first."
            )
        profiles.append(profile)
    assignment = Assignment(
        section_id=section.id,
        title=title,
        instructions=instructions,
        due_at=data.due_at,
        client_profiles=profiles,
    )
    await repository.add(session, assignment)
    return assignment


async def get_assignment(
    session: AsyncSession, actor: Actor, assignment_id: uuid.UUID
) -> Assignment:
    assignment = await session.scalar(
        repository.assignments_visible_to(actor).where(Assignment.id == assignment_id)
    )
    if assignment is None:
        raise ClassesError.not_found("Assignment")
    return assignment


async def publish_assignment(
    session: AsyncSession, actor: Actor, assignment_id: uuid.UUID
) -> Assignment:
    _require_teacher(actor, "publish assignments")
    assignment = await get_assignment(session, actor, assignment_id)
    if assignment.status is not AssignmentStatus.PUBLISHED:
        assignment.status = AssignmentStatus.PUBLISHED
        assignment.published_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            actor,
            audit.Action.ASSIGNMENT_PUBLISH,
            "assignment",
            assignment.id,
            {"section_id": assignment.section_id, "title": assignment.title},
        )
    return assignment


async def list_assignments(
    session: AsyncSession, actor: Actor, page: PageRequest, section_id: uuid.UUID | None = None
) -> Page[Assignment]:
    stmt = repository.assignments_visible_to(actor)
    if section_id is not None:
        stmt = stmt.where(Assignment.section_id == section_id)
    return await paginate(session, stmt, NEWEST_ASSIGNMENTS, page)
