"""A teacher checks a client profile through GraphQL with the offline simulator (no key):
the report comes back with a row per probe and a verdict; the throwaway conversations never
show up as sessions, and the check's usage is recorded under its own kind."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from api.accounts.models import Role
from api.clients.check import PROBES
from api.conversations.models import Session, SessionKind
from api.usage.models import UsageRecord
from tests.api.test_client_prompt_preview import token_for
from tests.factories.accounts import make_user
from tests.factories.world import make_world

CHECK = """
mutation($id: ID!) {
  checkClient(clientId: $id) { check { id status verdict profileVersion isCurrent provider } }
}"""
REPORT = """
query($id: ID!) {
  clientCheck(id: $id) {
    id status verdict model provider totalTokens cost durationMs isCurrent finishedAt
    probes { key label message grade reason excerpt }
  }
}"""
LAST = "query($id: ID!) { clientProfile(id: $id) { lastCheck { id verdict status } } }"
SESSIONS = "{ sessions(first: 50) { edges { node { id } } } }"


async def run_check(gql, profile_id, token) -> dict:
    started = (await gql.ok(CHECK, {"id": str(profile_id)}, token))["checkClient"]["check"]
    await gql.runtime.client_checks.settled(uuid.UUID(started["id"]))
    return started


async def test_teacher_checks_own_client_with_the_simulator(db, settings, gql):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)

    started = await run_check(gql, world.profile.id, token)
    assert started["status"] == "RUNNING" and started["verdict"] is None
    assert started["provider"] == "simulator" and started["isCurrent"]

    report = (await gql.ok(REPORT, {"id": started["id"]}, token))["clientCheck"]
    assert report["status"] == "DONE" and report["finishedAt"]
    assert [p["key"] for p in report["probes"]] == [p.key for p in PROBES]
    for probe in report["probes"]:
        assert probe["grade"] == "PASS", probe
        assert probe["excerpt"] and probe["reason"] == "stays in character"
    assert report["verdict"] == "PASS" and report["totalTokens"] > 0
    last = (await gql.ok(LAST, {"id": str(world.profile.id)}, token))["clientProfile"]
    assert last["lastCheck"] == {"id": started["id"], "verdict": "PASS", "status": "DONE"}

    # The probes' conversations are nobody's sessions, but their usage is recorded.
    async with gql.runtime.sessions() as fresh:
        hidden = (
            await fresh.scalars(
                select(Session).where(
                    Session.client_profile_id == world.profile.id,
                    Session.kind == SessionKind.CLIENT_CHECK,
                )
            )
        ).all()
        [conversation] = hidden
        records = (
            await fresh.scalars(
                select(UsageRecord).where(UsageRecord.session_id == conversation.id)
            )
        ).all()
    assert conversation.student_id == world.teacher.id and conversation.message_count == 0
    assert len(records) == len(PROBES) and {r.kind for r in records} == {"client_check"}
    assert (
        conversation.total_tokens
        == report["totalTokens"]
        == sum(r.input_tokens + r.output_tokens for r in records)
    )
    for who in (world.teacher, world.student):
        listed = await gql.ok(SESSIONS, token=token_for(settings, who))
        assert str(conversation.id) not in str(listed)
    admin = await make_user(db, Role.ADMIN)
    listed = await gql.ok(SESSIONS, token=token_for(settings, admin))
    assert str(conversation.id) not in str(listed)
    missing = await gql.error(
        "query($id: ID!) { session(id: $id) { id } }",
        {"id": str(conversation.id)},
        token_for(settings, admin),
    )
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_a_profile_edited_after_its_check_says_the_check_is_not_current(db, settings, gql):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)
    started = await run_check(gql, world.profile.id, token)
    await gql.ok(
        "mutation($id: ID!) { updateClientProfile(id: $id, input: {difficulty: 4}) "
        "{ clientProfile { version } } }",
        {"id": str(world.profile.id)},
        token,
    )
    report = (await gql.ok(REPORT, {"id": started["id"]}, token))["clientCheck"]
    assert report["isCurrent"] is False


async def test_who_may_check_a_client(db, settings, gql):
    world = await make_world(db, settings)
    other_teacher = await make_user(db, Role.TEACHER)
    admin = await make_user(db, Role.ADMIN)
    profile = {"id": str(world.profile.id)}

    refused = await gql.error(CHECK, profile, token_for(settings, world.student))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    hidden = await gql.error(CHECK, profile, token_for(settings, other_teacher))
    assert hidden["extensions"]["code"] == "NOT_FOUND"
    missing = await gql.error(CHECK, {"id": str(uuid.uuid4())}, token_for(settings, other_teacher))
    assert missing == hidden | {"path": missing["path"], "locations": missing["locations"]}

    started = await run_check(gql, world.profile.id, token_for(settings, admin))
    # The teacher sees an admin's check of their profile; others do not.
    seen = await gql.ok(REPORT, {"id": started["id"]}, token_for(settings, world.teacher))
    assert seen["clientCheck"]["status"] == "DONE"
    for user, code in ((world.student, "FORBIDDEN"), (other_teacher, "NOT_FOUND")):
        error = await gql.error(REPORT, {"id": started["id"]}, token_for(settings, user))
        assert error["extensions"]["code"] == code
    # A student never sees the last check of a client they practise with.
    last = await gql.ok(LAST, profile, token_for(settings, world.student))
    assert last["clientProfile"]["lastCheck"] is None
