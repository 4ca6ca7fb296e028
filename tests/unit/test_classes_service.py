"""Sections, join codes and assignments."""

from __future__ import annotations

import pytest

from api.accounts.models import Role
from api.classes import service
from api.classes.models import AssignmentStatus
from api.errors import ErrorCode, PracticumError
from api.pagination import PageRequest
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile


async def test_join_code_is_forgiving_about_case_and_spacing(db, settings):
    teacher, student = await make_user(db, Role.TEACHER), await make_user(db)
    section = await make_section(db, settings, teacher)
    typed = f" {section.join_code[:4].lower()}-{section.join_code[4:].lower()} "
    joined, was_member = await service.join_section(db, actor(student), typed)
    again, is_member = await service.join_section(db, actor(student), section.join_code)
    await db.commit()
    assert joined.id == again.id == section.id
    assert (was_member, is_member) == (False, True)  # and no duplicate enrollment
    students = await service.list_students(db, actor(teacher), section.id, PageRequest(first=10))
    assert [s.id for s in students.items] == [student.id]


async def test_unknown_join_code_says_what_to_do(db, settings):
    student = await make_user(db)
    with pytest.raises(PracticumError) as refused:
        await service.join_section(db, actor(student), "NOPE1234")
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert "teacher" in refused.value.message


async def test_assignment_needs_own_unarchived_clients(db, settings):
    teacher, other = await make_user(db, Role.TEACHER), await make_user(db, Role.TEACHER)
    section = await make_section(db, settings, teacher)
    foreign = await make_profile(db, settings, other)
    with pytest.raises(PracticumError) as empty:
        await make_assignment(db, settings, teacher, section)
    assert empty.value.details["fields"][0]["field"] == "client_profile_ids"
    with pytest.raises(PracticumError) as refused:
        await make_assignment(db, settings, teacher, section, foreign)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert refused.value.details["fields"][0]["field"] == "client_profile_ids"


async def test_students_see_only_published_assignments_of_their_sections(db, settings):
    teacher, student, outsider = (
        await make_user(db, Role.TEACHER),
        await make_user(db),
        await make_user(db),
    )
    profile = await make_profile(db, settings, teacher)
    section = await make_section(db, settings, teacher, student)
    draft = await make_assignment(db, settings, teacher, section, profile, publish=False)
    live = await make_assignment(db, settings, teacher, section, profile)
    assert live.status is AssignmentStatus.PUBLISHED and live.published_at is not None

    seen = await service.list_assignments(db, actor(student), PageRequest(first=10))
    assert [a.id for a in seen.items] == [live.id]
    assert draft.id not in [a.id for a in seen.items]
    nothing = await service.list_assignments(db, actor(outsider), PageRequest(first=10))
    assert nothing.items == []


async def test_other_teachers_cannot_manage_a_section(db, settings):
    teacher, other = await make_user(db, Role.TEACHER), await make_user(db, Role.TEACHER)
    section = await make_section(db, settings, teacher)
    with pytest.raises(PracticumError) as hidden:
        await service.create_section(db, actor(await make_user(db)), settings, "Mine")
    assert hidden.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(PracticumError) as refused:
        await service.list_students(db, actor(other), section.id, PageRequest(first=10))
    assert refused.value.code is ErrorCode.NOT_FOUND
