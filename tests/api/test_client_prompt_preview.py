"""A teacher previews the system prompt of a client, with unsaved edits, and picks its model."""

from __future__ import annotations

from datetime import timedelta

from api.accounts.models import Role, User
from api.accounts.security import issue_token
from api.llm.base import estimate_tokens
from tests.factories.accounts import actor, make_user
from tests.factories.world import make_world

PREVIEW = """
mutation($id: ID!, $input: UpdateClientProfileInput) {
  previewSystemPrompt(clientId: $id, input: $input) {
    systemPrompt templateVersion estimatedTokens
  }
}"""

PROFILE = "query($id: ID!) { clientProfile(id: $id) { background difficulty model version } }"

UPDATE = """
mutation($id: ID!, $input: UpdateClientProfileInput!) {
  updateClientProfile(id: $id, input: $input) { clientProfile { model version } }
}"""


CREATE = """
mutation($input: CreateClientProfileInput!) {
  createClientProfile(input: $input) { clientProfile { id model } }
}"""

MODELS = "{ availableModels }"
NEW_CLIENT = {"name": "Priya Shah", "presentingConcern": "Wants to switch broadband provider."}


def token_for(settings, user: User) -> str:
    token, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    return token


async def test_teacher_previews_own_client_with_unsaved_edits(db, settings, gql):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)
    edits = {"background": "Recently separated; sleeping on a friend's sofa.", "difficulty": 5}

    data = await gql.ok(PREVIEW, {"id": str(world.profile.id), "input": edits}, token)

    preview = data["previewSystemPrompt"]
    prompt = preview["systemPrompt"]
    assert "<persona>\nName: Jordan Lee\n" in prompt
    assert "Background: Recently separated; sleeping on a friend's sofa." in prompt
    assert "Difficulty 5 of 5" in prompt
    assert "<boundaries>\nAvoids talking about family.\n</boundaries>" in prompt
    assert preview["templateVersion"] == 2
    assert preview["estimatedTokens"] == estimate_tokens(prompt) > 100
    stored = await gql.ok(PROFILE, {"id": str(world.profile.id)}, token)
    assert stored["clientProfile"] == {
        "background": "Nurse working night shifts; recently moved cities.",
        "difficulty": 2,
        "model": None,
        "version": 1,
    }


async def test_preview_without_edits_shows_the_saved_client(db, settings, gql):
    world = await make_world(db, settings)
    data = await gql.ok(PREVIEW, {"id": str(world.profile.id)}, token_for(settings, world.teacher))
    assert "Background: Nurse working night shifts" in data["previewSystemPrompt"]["systemPrompt"]


async def test_student_and_other_teacher_cannot_preview(db, settings, gql):
    world = await make_world(db, settings)
    other_teacher = await make_user(db, Role.TEACHER)
    variables = {"id": str(world.profile.id)}

    as_student = await gql(PREVIEW, variables, token_for(settings, world.student))
    as_other = await gql(PREVIEW, variables, token_for(settings, other_teacher))
    anonymous = await gql(PREVIEW, variables)

    assert as_student["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert as_other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for body in (as_student, as_other, anonymous):
        assert body["data"] is None
        assert "Avoids talking about family." not in str(body)


async def test_admin_can_preview_any_client(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    data = await gql.ok(PREVIEW, {"id": str(world.profile.id)}, token_for(settings, admin))
    assert "Name: Jordan Lee" in data["previewSystemPrompt"]["systemPrompt"]


async def test_unknown_model_is_refused_by_field_in_preview_and_update(db, settings, gql):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)
    variables = {"id": str(world.profile.id), "input": {"model": "gpt-4o"}}

    for document in (PREVIEW, UPDATE):
        error = await gql.error(document, variables, token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        [problem] = error["extensions"]["fields"]
        assert problem["field"] == "model"
        for allowed in settings.allowed_models:
            assert allowed in problem["message"]


async def test_teacher_picks_a_model_from_the_available_ones(db, settings, gql):
    teacher = await make_user(db, Role.TEACHER)
    token = token_for(settings, teacher)
    available = (await gql.ok(MODELS, token=token))["availableModels"]
    assert available == settings.allowed_models

    created = await gql.ok(CREATE, {"input": {**NEW_CLIENT, "model": available[-1]}}, token)
    profile = created["createClientProfile"]["clientProfile"]
    assert profile["model"] == available[-1]

    cleared = await gql.ok(UPDATE, {"id": profile["id"], "input": {"model": ""}}, token)
    assert cleared["updateClientProfile"]["clientProfile"] == {"model": None, "version": 2}


async def test_anyone_logged_in_can_list_available_models(db, settings, gql):
    student = await make_user(db, Role.STUDENT)
    data = await gql.ok(MODELS, token=token_for(settings, student))
    assert data["availableModels"] == settings.allowed_models
    error = await gql.error(MODELS)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
