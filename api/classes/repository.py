from __future__ import annotations

import uuid

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import Actor
from api.classes.models import Assignment, AssignmentStatus, Enrollment, Section


def is_enrolled(student_id: uuid.UUID, section_id_column):
    return exists().where(
        Enrollment.section_id == section_id_column, Enrollment.student_id == student_id
    )


def sections_visible_to(actor: Actor) -> Select[tuple[Section]]:
    stmt = select(Section)
    if actor.section_id is not None:  # an API key narrowed to one section
        return stmt.where(Section.id == actor.section_id)
    if actor.is_admin:
        return stmt
    if actor.is_teacher:
        return stmt.where(Section.teacher_id == actor.id)
    return stmt.where(is_enrolled(actor.id, Section.id))


def assignments_visible_to(actor: Actor) -> Select[tuple[Assignment]]:
    stmt = select(Assignment)
    if actor.section_id is not None:  # an API key narrowed to one section
        return stmt.where(Assignment.section_id == actor.section_id)
    if actor.is_admin:
        return stmt
    if actor.is_teacher:
        return stmt.join(Section, Section.id == Assignment.section_id).where(
            Section.teacher_id == actor.id
        )
    return stmt.where(
        Assignment.status == AssignmentStatus.PUBLISHED,
        is_enrolled(actor.id, Assignment.section_id),
    )


def students_of(section_id: uuid.UUID) -> Select[tuple[User]]:
    return (
        select(User)
        .join(Enrollment, Enrollment.student_id == User.id)
        .where(Enrollment.section_id == section_id)
    )


def normalise_join_code(join_code: str | None) -> str:
    """A join code as typed (any case, with dashes or spaces), as stored; "" if unusable."""
    code = (join_code or "").strip().upper().replace("-", "").replace(" ", "")
    return code if "\x00" not in code else ""  # PostgreSQL refuses to compare against NUL


async def get_section_by_code(session: AsyncSession, code: str) -> Section | None:
    return await session.scalar(select(Section).where(Section.join_code == code))


async def get_enrollment(
    session: AsyncSession, section_id: uuid.UUID, student_id: uuid.UUID
) -> Enrollment | None:
    return await session.scalar(
        select(Enrollment).where(
            Enrollment.section_id == section_id, Enrollment.student_id == student_id
        )
    )


async def join_code_taken(session: AsyncSession, code: str) -> bool:
    return bool(await session.scalar(select(exists().where(Section.join_code == code))))


async def add(session: AsyncSession, *objects) -> None:
    session.add_all(objects)
    await session.flush()
