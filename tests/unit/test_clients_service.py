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


# Previewing the system prompt; the per-profile model


async def test_preview_applies_unsaved_changes_and_saves_nothing(db, settings, runtime):
    teacher = await make_user(db, Role.TEACHER)
    profile = await make_profile(db, settings, teacher)
    changes = service.ProfileFields(background="Just moved back in with his parents.", difficulty=5)

    prompt = await service.preview_system_prompt(db, actor(teacher), settings, profile.id, changes)

    assert "Background: Just moved back in with his parents." in prompt.text
    assert "Difficulty 5 of 5" in prompt.text
    assert "Nurse working night shifts" not in prompt.text
    assert not db.dirty and not db.new
    await db.commit()  # would write anything the preview had changed
    async with runtime.sessions() as fresh:
        stored = await service.get_profile(fresh, actor(teacher), profile.id)
        assert (stored.background, stored.difficulty, stored.version) == (
            "Nurse working night shifts; recently moved cities.",
            2,
            1,
        )


async def test_preview_without_changes_is_the_saved_profile(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    profile = await make_profile(db, settings, teacher, name="Ari Moss")
    prompt = await service.preview_system_prompt(db, actor(teacher), settings, profile.id)
    assert "<persona>\nName: Ari Moss\n" in prompt.text
    assert prompt.persona.boundaries == "Avoids talking about family."


async def test_only_the_author_or_an_admin_may_preview(db, settings):
    teacher, other = await make_user(db, Role.TEACHER), await make_user(db, Role.TEACHER)
    student, admin = await make_user(db, Role.STUDENT), await make_user(db, Role.ADMIN)
    profile = await make_profile(db, settings, teacher)
    section = await make_section(db, settings, teacher, student)
    await make_assignment(db, settings, teacher, section, profile)  # the student can see it

    async def outcome(user) -> ErrorCode | None:
        try:
            await service.preview_system_prompt(db, actor(user), settings, profile.id)
        except PracticumError as error:
            return error.code
        return None

    assert await outcome(teacher) is None
    assert await outcome(admin) is None
    assert await outcome(other) is ErrorCode.NOT_FOUND
    assert await outcome(student) is ErrorCode.FORBIDDEN


async def test_preview_refuses_changes_exactly_as_an_update_would(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    profile = await make_profile(db, settings, teacher)
    bad = service.ProfileFields(name=" ", difficulty=0, model="gpt-4o")

    with pytest.raises(PracticumError) as previewing:
        await service.preview_system_prompt(db, actor(teacher), settings, profile.id, bad)
    with pytest.raises(PracticumError) as updating:
        await service.update_profile(db, actor(teacher), settings, profile.id, bad)

    assert previewing.value.code is ErrorCode.BAD_USER_INPUT
    assert set(_fields_of(previewing.value)) == {"name", "difficulty", "model"}
    assert previewing.value.details == updating.value.details


async def test_teacher_chooses_an_allowed_model_and_clears_it(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    chosen = settings.allowed_models[-1]
    profile = await make_profile(db, settings, teacher, model=chosen)
    assert profile.model == chosen

    kept = await service.update_profile(
        db, actor(teacher), settings, profile.id, service.ProfileFields(difficulty=4)
    )
    assert (kept.model, kept.version) == (chosen, 2)
    cleared = await service.update_profile(
        db, actor(teacher), settings, profile.id, service.ProfileFields(model="  ")
    )
    assert (cleared.model, cleared.version) == (None, 3)


async def test_a_model_outside_the_allowed_list_is_refused_by_field(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    profile = await make_profile(db, settings, teacher)
    with pytest.raises(PracticumError) as refused:
        await service.update_profile(
            db, actor(teacher), settings, profile.id, service.ProfileFields(model="gpt-4o")
        )
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    message = _fields_of(refused.value)["model"]
    assert all(model in message for model in settings.allowed_models)
    with pytest.raises(PracticumError):
        await service.create_profile(db, actor(teacher), settings, profile_fields(model="x"))
