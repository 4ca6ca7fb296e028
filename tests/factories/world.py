"""A small class world: a teacher, a section with a student, a published client."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Role, User
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.config import Settings
from tests.factories.accounts import make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile


@dataclass
class World:
    teacher: User
    student: User
    section: Section
    profile: ClientProfile
    assignment: Assignment


async def make_world(db: AsyncSession, settings: Settings) -> World:
    teacher = await make_user(db, Role.TEACHER)
    student = await make_user(db, Role.STUDENT)
    profile = await make_profile(db, settings, teacher)
    section = await make_section(db, settings, teacher, student)
    assignment = await make_assignment(db, settings, teacher, section, profile)
    return World(teacher, student, section, profile, assignment)
