"""Client profiles: validation by field, versions, who sees what."""

from __future__ import annotations

import pytest

from api.accounts.models import Role
from api.classes import service as classes
from api.clients import service
from api.errors import ErrorCode, PracticumError
from api.pagination import PageRequest
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile, profile_fields


def _fields_of(error: PracticumError) -> dict[str, str]:
    return {f["field"]: f["message"] for f in error.details["fields"]}


async def test_every_problem_is_reported_by_its_field(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    with pytest.raises(PracticumError) as refused:
        await service.create_profile(
            db,
            actor(teacher),
            settings,
            profile_fields(name="  ", difficulty=6, age=0, presenting_concern="x" * 5000),
        )
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    problems = _fields_of(refused.value)
    assert set(problems) == {"name", "difficulty", "age", "presenting_concern"}
    assert "between 1 and 5" in problems["difficulty"]
    assert "at most 4000" in problems["presenting_concern"]


async def test_update_changes_only_given_fields_and_bumps_version(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    profile = await make_profile(db, settings, teacher)
    updated = await service.update_profile(
        db, actor(teacher), settings, profile.id, service.ProfileFields(difficulty=4)
    )
    assert (updated.difficulty, updated.version, updated.name) == (4, 2, "Jordan Lee")
    unchanged = await service.update_profile(
        db, actor(teacher), settings, profile.id, service.ProfileFields(difficulty=4)
    )
    assert unchanged.version == 2


async def test_teachers_see_only_their_own_profiles(db, settings):
    mine, theirs = await make_user(db, Role.TEACHER), await make_user(db, Role.TEACHER)
    own = await make_profile(db, settings, mine)
    other = await make_profile(db, settings, theirs)
    page = await service.list_profiles(db, actor(mine), PageRequest(first=100))
    assert own.id in [p.id for p in page.items] and other.id not in [p.id for p in page.items]
    with pytest.raises(PracticumError) as hidden:
        await service.get_profile(db, actor(mine), other.id)
    assert hidden.value.code is ErrorCode.NOT_FOUND


async def test_students_see_clients_only_once_published(db, settings):
    teacher, student = await make_user(db, Role.TEACHER), await make_user(db, Role.STUDENT)
    profile = await make_profile(db, settings, teacher)
    section = await make_section(db, settings, teacher, student)
    assignment = await make_assignment(db, settings, teacher, section, profile, publish=False)

    async def visible() -> list:
        page = await service.list_profiles(db, actor(student), PageRequest(first=100))
        return [p.id for p in page.items]

    assert profile.id not in await visible()
    await classes.publish_assignment(db, actor(teacher), assignment.id)
    await db.commit()
    assert profile.id in await visible()

    await service.update_profile(
        db, actor(teacher), settings, profile.id, service.ProfileFields(archived=True)
    )
    await db.commit()
    assert profile.id not in await visible()


async def test_students_cannot_write_profiles(db, settings):
    student = await make_user(db, Role.STUDENT)
    with pytest.raises(PracticumError) as refused:
        await service.create_profile(db, actor(student), settings, profile_fields())
    assert refused.value.code is ErrorCode.FORBIDDEN
