"""The audit log: administrative changes recorded with who, when, what and from where, in
the same transaction as the change, and read back by admins only through `auditLog`.

Each test filters by its own admin (`actorId`): the database is shared with other tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.accounts.models import Role
from tests.api.test_authorization import token_for
from tests.factories.accounts import make_user
from tests.factories.world import make_world

AUDIT_LOG = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id at action targetKind targetId details address actorId apiKeyId actor { id role } }
  }
}"""
SET_BUDGET = """
mutation($section: ID!, $limit: Decimal!) {
  setBudget(input: {scope: SECTION, period: MONTHLY, limitUsd: $limit, sectionId: $section}) {
    budget { id }
  }
}"""
DELETE_BUDGET = "mutation($id: ID!) { deleteBudget(id: $id) { deletedId } }"
ARCHIVE = """
mutation($id: ID!, $archived: Boolean!) {
  updateClientProfile(id: $id, input: {archived: $archived}) { clientProfile { archived } }
}"""


async def entries(gql, token: str, **filter) -> list[dict]:
    data = await gql.ok(AUDIT_LOG, {"filter": filter, "first": 100}, token)
    return data["auditLog"]["nodes"]


async def test_budget_changes_are_recorded_with_who_when_what_and_from_where(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    before = datetime.now(UTC) - timedelta(seconds=1)

    created = await gql.ok(SET_BUDGET, {"section": str(world.section.id), "limit": "5"}, token)
    budget_id = created["setBudget"]["budget"]["id"]
    await gql.ok(SET_BUDGET, {"section": str(world.section.id), "limit": "7.5"}, token)
    await gql.ok(DELETE_BUDGET, {"id": budget_id}, token)

    log = await entries(gql, token, actorId=str(admin.id))
    assert [e["action"] for e in log] == ["budget.delete", "budget.update", "budget.create"]
    assert {e["targetKind"] for e in log} == {"budget"}
    assert {e["targetId"] for e in log} == {budget_id}
    assert {e["actor"]["id"] for e in log} == {str(admin.id)}
    assert {e["apiKeyId"] for e in log} == {None}
    # httpx's ASGI transport connects from 127.0.0.1, which the rate limits see too
    assert {e["address"] for e in log} == {"127.0.0.1"}
    delete, update, create = log
    assert create["details"]["limit_usd"] == "5"
    assert create["details"]["section_id"] == str(world.section.id)
    assert update["details"]["limit_usd"] == "7.5"
    assert update["details"]["before"]["limit_usd"] == "5"
    assert delete["details"]["limit_usd"] == "7.5"
    times = [datetime.fromisoformat(e["at"]) for e in log]
    assert all(t.tzinfo is not None and before <= t <= datetime.now(UTC) for t in times)
    assert times == sorted(times, reverse=True)


async def test_filters_and_pages(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    for limit in ("1", "2", "3"):
        await gql.ok(SET_BUDGET, {"section": str(world.section.id), "limit": limit}, token)
    await gql.ok(ARCHIVE, {"id": str(world.profile.id), "archived": True}, token)
    await gql.ok(ARCHIVE, {"id": str(world.profile.id), "archived": False}, token)
    mine = {"actorId": str(admin.id)}

    assert len(await entries(gql, token, **mine)) == 5
    assert [e["action"] for e in await entries(gql, token, **mine, action="budget.")] == [
        "budget.update",
        "budget.update",
        "budget.create",
    ]
    profile = await entries(gql, token, **mine, targetKind="client_profile")
    assert [e["action"] for e in profile] == [
        "client_profile.publish",
        "client_profile.unpublish",
    ]
    assert {e["targetId"] for e in profile} == {str(world.profile.id)}
    assert await entries(gql, token, **mine, action="user.deactivate") == []

    # since (inclusive) and until (exclusive) around the middle entry
    everything = await entries(gql, token, **mine)
    middle = everything[2]["at"]
    newer = await entries(gql, token, **mine, since=middle)
    older = await entries(gql, token, **mine, until=middle)
    assert [e["id"] for e in newer] + [e["id"] for e in older] == [e["id"] for e in everything]

    # pages of two, newest first, nothing repeated or skipped
    seen, after = [], None
    while True:
        data = await gql.ok(AUDIT_LOG, {"filter": mine, "first": 2, "after": after}, token)
        seen += [e["id"] for e in data["auditLog"]["nodes"]]
        if not data["auditLog"]["pageInfo"]["hasNextPage"]:
            break
        after = data["auditLog"]["pageInfo"]["endCursor"]
    assert seen == [e["id"] for e in everything]

    error = await gql.error(AUDIT_LOG, {"filter": {"since": middle, "until": middle}}, token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_teachers_section_budget_is_recorded_too(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    teacher = token_for(settings, world.teacher)
    await gql.ok(SET_BUDGET, {"section": str(world.section.id), "limit": "2"}, teacher)
    log = await entries(
        gql, token_for(settings, admin), actorId=str(world.teacher.id), action="budget."
    )
    assert [(e["action"], e["actor"]["role"]) for e in log] == [("budget.create", "TEACHER")]


async def test_a_refused_change_leaves_no_entry(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    error = await gql.error(SET_BUDGET, {"section": str(world.section.id), "limit": "-1"}, token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await entries(gql, token, actorId=str(admin.id)) == []


@pytest.mark.parametrize("role", [Role.STUDENT, Role.TEACHER])
async def test_only_admins_read_the_log(db, settings, gql, role):
    user = await make_user(db, role)
    body = await gql(AUDIT_LOG, {}, token_for(settings, user))
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["data"] is None
    body = await gql(AUDIT_LOG, {})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
