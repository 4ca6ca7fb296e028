from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.classes import service
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.config import Settings
from tests.factories.accounts import actor


async def make_section(
    db: AsyncSession, settings: Settings, teacher: User, *students: User, name: str = "Section A"
) -> Section:
    section = await service.create_section(db, actor(teacher), settings, name)
    for student in students:
        await service.join_section(db, actor(student), section.join_code)
    await db.commit()
    return section


async def make_assignment(
    db: AsyncSession,
    settings: Settings,
    teacher: User,
    section: Section,
    *profiles: ClientProfile,
    publish: bool = True,
) -> Assignment:
    assignment = await service.create_assignment(
        db,
        actor(teacher),
        settings,
        section.id,
        service.AssignmentFields(title="Practice", client_profile_ids=[p.id for p in profiles]),
    )
    if publish:
        await service.publish_assignment(db, actor(teacher), assignment.id)
    await db.commit()
    return assignment
