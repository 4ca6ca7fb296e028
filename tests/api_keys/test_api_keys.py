"""API keys as an admin creates them and an integration uses them over GraphQL: shown once,
stored hashed, `Authorization: Bearer pk_...`, last use noted, revoked or expired at once,
narrowed by scope, and bound by the rules and limits that bind people."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from api.accounts.models import Role, User
from api.api_keys.models import ApiKey
from tests.api.test_authorization import token_for
from tests.factories.accounts import make_user
from tests.factories.world import make_world
from tests.limits.conftest import graphql_from, limited, open_app, storage  # noqa: F401

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    secret
    apiKey { id name prefix role scope sectionId createdAt expiresAt lastUsedAt revokedAt }
  }
}"""
KEYS = """{ apiKeys(first: 100) { nodes { id name prefix role scope lastUsedAt revokedAt } } }"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { id revokedAt } } }"
ME = "{ me { id role name } }"
TODAY = {"start": datetime.now(UTC).date().isoformat(), "end": datetime.now(UTC).date().isoformat()}
USAGE = """query($r: DateRangeInput!) { usageSummary(range: $r) { totals { messages cost } }
  usage(range: $r, groupBy: SECTION) { key } }"""


def code(error: dict) -> str:
    return error["extensions"]["code"]


async def create_key(gql, token: str, **input) -> tuple[str, dict]:
    data = await gql.ok(CREATE, {"input": {"name": "Integration", "role": "ADMIN", **input}}, token)
    return data["createApiKey"]["secret"], data["createApiKey"]["apiKey"]


async def test_a_key_is_shown_once_stored_hashed_and_works_as_a_bearer_token(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    secret, key = await create_key(gql, token, name="Reporting", role="TEACHER")

    assert secret.startswith("pk_") and len(secret) >= 40
    assert secret.startswith(key["prefix"]) and len(key["prefix"]) < len(secret) // 3
    assert (key["role"], key["scope"], key["lastUsedAt"], key["revokedAt"]) == (
        "TEACHER",
        "FULL",
        None,
        None,
    )
    expires = datetime.fromisoformat(key["expiresAt"]) - datetime.now(UTC)
    assert timedelta(days=89) < expires <= timedelta(days=90)
    stored = await db.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])))
    await db.commit()
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    listed = (await gql.ok(KEYS, token=token))["apiKeys"]["nodes"]
    assert secret not in str(listed)  # never shown again
    assert next(k for k in listed if k["id"] == key["id"])["prefix"] == key["prefix"]

    me = (await gql.ok(ME, token=secret))["me"]
    assert (me["role"], me["name"]) == ("TEACHER", "API key: Reporting")
    # What it does is done as itself: a teacher's section, owned by the key.
    made = await gql.ok(
        'mutation { createSection(input: {name: "Synced"}) { section { id } } }', token=secret
    )
    assert made["createSection"]["section"]["id"]


async def test_last_use_is_noted_at_most_once_a_minute(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    secret, key = await create_key(gql, token)

    async def last_used() -> str | None:
        for _ in range(100):
            listed = (await gql.ok(KEYS, token=token))["apiKeys"]["nodes"]
            found = next(k for k in listed if k["id"] == key["id"])["lastUsedAt"]
            if found:
                return found
            await asyncio.sleep(0.05)
        return None

    await gql.ok(ME, token=secret)
    first = await last_used()
    assert first is not None
    assert datetime.now(UTC) - datetime.fromisoformat(first) < timedelta(seconds=30)
    for _ in range(5):
        await gql.ok(ME, token=secret)
    await asyncio.sleep(0.2)
    assert await last_used() == first  # not again within the minute
    # A minute later (as the database sees it), the next use is noted.
    await db.execute(
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(key["id"]))
        .values(last_used_at=datetime.now(UTC) - timedelta(minutes=2))
    )
    await db.commit()
    gql.runtime.api_key_uses._noted.clear()  # as another process would
    await gql.ok(ME, token=secret)
    for _ in range(100):
        if (
            (later := await last_used())
            and later != first
            and datetime.fromisoformat(later) > datetime.fromisoformat(first) - timedelta(seconds=1)
        ):
            break
        await asyncio.sleep(0.05)
    assert datetime.now(UTC) - datetime.fromisoformat(later) < timedelta(seconds=30)


async def test_revoked_expired_and_unknown_keys_are_refused(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    revoked, key = await create_key(gql, token)
    assert (await gql.ok(ME, token=revoked))["me"]["role"] == "ADMIN"
    await gql.ok(REVOKE, {"id": key["id"]}, token)
    error = await gql.error(ME, token=revoked)
    assert code(error) == "UNAUTHENTICATED" and "revoked" in error["message"]

    expired, key = await create_key(gql, token)
    await db.execute(
        update(ApiKey)
        .where(ApiKey.id == uuid.UUID(key["id"]))
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await db.commit()
    error = await gql.error(ME, token=expired)
    assert code(error) == "UNAUTHENTICATED" and "expired" in error["message"]

    for unknown in ("pk_" + "A" * 43, "pk_", "pk_" + "x" * 5000):
        error = await gql.error(ME, token=unknown)
        assert code(error) == "UNAUTHENTICATED", unknown

    log = await gql.ok(
        """query($a: ID!) { auditLog(filter: {actorId: $a, targetKind: "api_key"}) {
             nodes { action targetId details } } }""",
        {"a": str(admin.id)},
        token,
    )
    actions = [(e["action"], e["details"].get("name")) for e in log["auditLog"]["nodes"]]
    assert actions == [
        ("api_key.create", "Integration"),
        ("api_key.revoke", "Integration"),
        ("api_key.create", "Integration"),
    ]
    assert revoked not in str(log) and expired not in str(log)


async def test_bad_input_and_who_may_manage_keys(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    error = await gql.error(
        CREATE, {"input": {"name": " ", "role": "ADMIN", "expiresAt": past}}, token
    )
    assert code(error) == "BAD_USER_INPUT"
    assert {p["field"] for p in error["extensions"]["fields"]} == {"name", "expiresAt"}
    far = (datetime.now(UTC) + timedelta(days=800)).isoformat()
    error = await gql.error(
        CREATE, {"input": {"name": "x", "role": "ADMIN", "expiresAt": far}}, token
    )
    assert code(error) == "BAD_USER_INPUT"
    missing = "00000000-0000-4000-8000-000000000000"
    error = await gql.error(
        CREATE, {"input": {"name": "x", "role": "ADMIN", "sectionId": missing}}, token
    )
    assert code(error) == "NOT_FOUND"
    assert code(await gql.error(REVOKE, {"id": missing}, token)) == "NOT_FOUND"

    for role in (Role.STUDENT, Role.TEACHER):
        other = token_for(settings, await make_user(db, role))
        assert code(await gql.error(CREATE, {"input": {"name": "x", "role": "ADMIN"}}, other)) == (
            "FORBIDDEN"
        )
        assert code(await gql.error(KEYS, token=other)) == "FORBIDDEN"
    # A key, even an admin's, cannot make or revoke keys: a leaked key cannot breed.
    secret, key = await create_key(gql, token)
    assert code(await gql.error(CREATE, {"input": {"name": "y", "role": "ADMIN"}}, secret)) == (
        "FORBIDDEN"
    )
    assert code(await gql.error(REVOKE, {"id": key["id"]}, secret)) == "FORBIDDEN"


async def test_a_usage_analytics_key_reads_usage_and_nothing_else(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    world = await make_world(db, settings)
    secret, _ = await create_key(gql, token_for(settings, admin), scope="USAGE_ANALYTICS")
    data = await gql.ok(USAGE, {"r": TODAY}, secret)
    assert "cost" in data["usageSummary"]["totals"]
    assert (await gql.ok(ME, token=secret))["me"]["role"] == "ADMIN"
    for document, variables in [
        ("{ sessions { nodes { id } } }", {}),
        ("{ users { nodes { id } } }", {}),
        ("{ auditLog { nodes { id } } }", {}),
        ("{ me { id } sections { nodes { id } } }", {}),  # one field too many refuses all
        ('mutation { createSection(input: {name: "x"}) { section { id } } }', {}),
        ('mutation { login(email: "a@b.c", password: "x") { token } }', {}),
        (
            "mutation($id: ID!) { deactivateUser(id: $id) { user { id } } }",
            {"id": str(world.student.id)},
        ),
    ]:
        body = await gql(document, variables, secret)
        assert [code(e) for e in body["errors"]] == ["FORBIDDEN"], (document, body)
        assert body["data"] is None
    await db.refresh(world.student)
    assert world.student.active


async def test_a_section_key_reads_only_that_section(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    a, b = await make_world(db, settings), await make_world(db, settings)
    from api.conversations import service as conversations
    from tests.factories.accounts import actor

    mine, _ = await conversations.start_session(db, actor(a.student), settings, a.profile.id)
    theirs, _ = await conversations.start_session(db, actor(b.student), settings, b.profile.id)
    await db.commit()
    secret, key = await create_key(gql, token_for(settings, admin), sectionId=str(a.section.id))
    assert key["sectionId"] == str(a.section.id)

    sections = await gql.ok("{ sections(first: 100) { nodes { id } } }", token=secret)
    assert [n["id"] for n in sections["sections"]["nodes"]] == [str(a.section.id)]
    sessions = await gql.ok("{ sessions(first: 100) { nodes { id } } }", token=secret)
    assert [n["id"] for n in sessions["sessions"]["nodes"]] == [str(mine.id)]
    students = await gql.ok(
        "query($id: ID!) { section(id: $id) { students { nodes { id } } } }",
        {"id": str(a.section.id)},
        secret,
    )
    assert [n["id"] for n in students["section"]["students"]["nodes"]] == [str(a.student.id)]
    for hidden in (
        ("query($id: ID!) { section(id: $id) { id } }", {"id": str(b.section.id)}),
        ("query($id: ID!) { session(id: $id) { id } }", {"id": str(theirs.id)}),
    ):
        assert code(await gql.error(*hidden, token=secret)) == "NOT_FOUND"
    usage = await gql.ok(USAGE, {"r": TODAY}, secret)
    assert {bucket["key"] for bucket in usage["usage"]} <= {str(a.section.id)}
    for refused in (
        "{ clientProfiles { nodes { id } } }",
        "{ budgets { id } }",
        'mutation { createSection(input: {name: "x"}) { section { id } } }',
    ):
        assert code(await gql.error(refused, token=secret)) == "FORBIDDEN", refused


async def test_changes_made_through_a_key_are_audited_as_the_key(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    world = await make_world(db, settings)
    secret, key = await create_key(gql, token_for(settings, admin))
    await gql.ok(
        """mutation($s: ID!) { setBudget(input: {scope: SECTION, period: DAILY, limitUsd: "3",
             sectionId: $s}) { budget { id } } }""",
        {"s": str(world.section.id)},
        secret,
    )
    log = await gql.ok(
        """{ auditLog(filter: {action: "budget.create"}, first: 5) {
             nodes { apiKeyId actor { name } } } }""",
        token=token_for(settings, admin),
    )
    entry = next(e for e in log["auditLog"]["nodes"] if e["apiKeyId"] == key["id"])
    assert entry["actor"]["name"] == "API key: Integration"


async def test_keys_are_bound_by_the_same_message_limits_as_students(limited):  # noqa: F811
    app = limited(rate_limit_messages_per_student="1/minute")
    runtime = app.state.runtime
    async with runtime.sessions() as db:
        admin = await make_user(db, Role.ADMIN)
        world = await make_world(db, runtime.settings)
    async with graphql_from(app) as gql:
        secret, _ = await create_key(gql, token_for(runtime.settings, admin), role="STUDENT")
        await gql.ok(
            "mutation($c: String!) { joinSection(joinCode: $c) { section { id } } }",
            {"c": world.section.join_code},
            secret,
        )
        started = await gql.ok(
            "mutation($c: ID!) { startSession(clientId: $c) { session { id } } }",
            {"c": str(world.profile.id)},
            secret,
        )
        session_id = started["startSession"]["session"]["id"]
        send = """mutation($s: ID!, $t: String!) { sendMessage(sessionId: $s, content: $t) {
                    userMessage { id } } }"""
        await gql.ok(send, {"s": session_id, "t": "Hello."}, secret)
        await gql.settled(session_id)
        error = await gql.error(send, {"s": session_id, "t": "Again."}, secret)
        assert code(error) == "RATE_LIMITED"
        async with runtime.sessions() as db:
            account = await db.scalar(select(User).join(ApiKey, ApiKey.user_id == User.id))
            assert account is not None and account.service_account
