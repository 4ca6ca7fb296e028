"""What the API answers is what was kept: disabled accounts, request errors, several
mutations in one document, and resuming with a wrong assignment."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.classes.models import Section
from api.conversations import service as conversations
from tests.factories.accounts import actor, make_user
from tests.factories.world import make_world


def token_for(settings, user) -> str:
    token, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    return token


async def sections_named(db, name: str) -> int:
    count = await db.scalar(select(func.count()).select_from(Section).where(Section.name == name))
    await db.commit()
    return count


async def test_a_disabled_account_loses_access_at_once(db, settings, gql):
    teacher = await make_user(db, Role.TEACHER)
    token = token_for(settings, teacher)
    assert (await gql.ok("{ me { id } }", token=token))["me"]["id"] == str(teacher.id)

    teacher.active = False
    await db.commit()
    error = await gql.error("{ clientProfiles { nodes { id } } }", token=token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "disabled" in error["message"]


# Admins only. The test reads them while allowed: a successful setRateLimits would be stored
# in the database every test shares and change the limits of the tests that follow.
RATE_LIMITS = "{ rateLimits { messagesPerStudent } }"
SET_RATE_LIMITS = """
mutation { setRateLimits(input: {messagesPerStudent: "3/minute"}) {
  rateLimits { messagesPerStudent } } }
"""
TRANSCRIPT = "query($id: ID!) { session(id: $id) { id messages { nodes { content } } } }"


async def test_a_demoted_admin_loses_admin_rights_with_the_same_token(db, settings, gql):
    """The role is the stored account's, read at each operation, not the token's."""
    world = await make_world(db, settings)
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    admin = await make_user(db, Role.ADMIN)
    await db.commit()
    token = token_for(settings, admin)
    await gql.ok(RATE_LIMITS, token=token)
    await gql.ok(TRANSCRIPT, {"id": str(conversation.id)}, token=token)

    admin.role = Role.TEACHER
    await db.commit()
    refused = await gql.error(SET_RATE_LIMITS, token=token)
    assert (await gql.error(RATE_LIMITS, token=token))["extensions"]["code"] == "FORBIDDEN"
    hidden = await gql.error(TRANSCRIPT, {"id": str(conversation.id)}, token=token)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert hidden["extensions"]["code"] == "NOT_FOUND"
    assert (await gql.ok("{ me { role } }", token=token))["me"]["role"] == "TEACHER"

    admin.role = Role.ADMIN  # and promoted again: at once too
    await db.commit()
    await gql.ok(RATE_LIMITS, token=token)


async def test_variables_of_the_wrong_type_are_a_request_error(db, settings, client):
    teacher = await make_user(db, Role.TEACHER)
    response = await client.post(
        "/graphql",
        json={
            "query": "query($first: Int) { clientProfiles(first: $first) { nodes { id } } }",
            "variables": {"first": "twenty"},
        },
        headers={
            "accept": "application/graphql-response+json",
            "authorization": f"Bearer {token_for(settings, teacher)}",
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_document_of_mutations_is_kept_whole_or_not_at_all(db, settings, gql):
    teacher = await make_user(db, Role.TEACHER)
    name = f"Undone {uuid.uuid4().hex[:6]}"
    body = await gql(
        """mutation($name: String!) {
             kept: createSection(input: {name: $name}) { section { id name } }
             refused: createSection(input: {name: ""}) { section { id } }
           }""",
        {"name": name},
        token=token_for(settings, teacher),
    )
    # Payloads are non-null, so one failure nulls the whole answer: nothing is reported
    # as done, and nothing was kept.
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["refused"]
    assert await sections_named(db, name) == 0


async def test_resuming_with_an_assignment_that_does_not_fit_is_refused(db, settings, gql):
    world = await make_world(db, settings)
    token = token_for(settings, world.student)
    start = """mutation($client: ID!, $assignment: ID) {
        startSession(clientId: $client, assignmentId: $assignment) { session { id } resumed } }"""
    await gql.ok(start, {"client": str(world.profile.id)}, token=token)
    error = await gql.error(
        start, {"client": str(world.profile.id), "assignment": str(uuid.uuid4())}, token=token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"][0]["field"] == "assignmentId"
