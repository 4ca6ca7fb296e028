from __future__ import annotations

import uuid

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.classes.models import Assignment, AssignmentStatus, Enrollment, assignment_clients
from api.clients.models import ClientProfile


def practisable_by(student_id: uuid.UUID):
    """Condition: the profile is in a published assignment of a section the student is in."""
    return exists(
        select(assignment_clients.c.client_profile_id)
        .join(Assignment, Assignment.id == assignment_clients.c.assignment_id)
        .join(Enrollment, Enrollment.section_id == Assignment.section_id)
        .where(
            assignment_clients.c.client_profile_id == ClientProfile.id,
            Assignment.status == AssignmentStatus.PUBLISHED,
            Enrollment.student_id == student_id,
        )
    )


def visible_to(actor: Actor) -> Select[tuple[ClientProfile]]:
    stmt = select(ClientProfile)
    if actor.is_admin:
        return stmt
    if actor.is_teacher:
        return stmt.where(ClientProfile.owner_id == actor.id)
    return stmt.where(~ClientProfile.archived, practisable_by(actor.id))


async def get_visible(
    session: AsyncSession, actor: Actor, profile_id: uuid.UUID
) -> ClientProfile | None:
    return await session.scalar(visible_to(actor).where(ClientProfile.id == profile_id))


async def add(session: AsyncSession, profile: ClientProfile) -> ClientProfile:
    session.add(profile)
    await session.flush()
    return profile
