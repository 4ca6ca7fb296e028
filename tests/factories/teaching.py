"""Rubrics, through the teaching service."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.classes.models import Assignment
from api.teaching import service
from api.teaching.models import Rubric
from tests.factories.accounts import actor

LEVELS = ("Not yet", "Emerging", "Competent", "Strong")


def criterion(name: str, weight: str = "1", levels=LEVELS) -> service.CriterionFields:
    return service.CriterionFields(
        name=name,
        description=f"How well the student shows {name.lower()}.",
        weight=Decimal(weight),
        levels=[service.LevelFields(i, text) for i, text in enumerate(levels, start=1)],
    )


def rubric_fields(*names: str, title: str = "Listening skills") -> service.RubricFields:
    names = names or ("Open questions", "Reflections")
    return service.RubricFields(name=title, criteria=[criterion(n) for n in names])


async def make_rubric(
    db: AsyncSession,
    teacher: User,
    *names: str,
    publish: bool = True,
    attach_to: Assignment | None = None,
) -> Rubric:
    rubric = await service.create_rubric(db, actor(teacher), rubric_fields(*names))
    if publish:
        await service.publish_rubric(db, actor(teacher), rubric.id)
    if attach_to is not None:
        await service.set_assignment_rubric(db, actor(teacher), attach_to.id, rubric.id)
    await db.commit()
    return rubric
