"""Rate limits as admins change them at run time (`rateLimits`, `setRateLimits`): who may,
what is accepted, that a change applies at once in the process that made it, outlives a
restart, and reaches another process on the same database within its refresh time.

The stored limits would apply to every app on a database, so these tests keep to a
database of their own, on SQLite and PostgreSQL, and clear it between tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event

from api.accounts.models import Role, User
from api.config import Settings
from api.db.migrate import upgrade
from api.errors import ErrorCode, PracticumError
from api.limits.models import StoredRateLimits
from api.limits.rate import RateLimits, RateLimitSpecs
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.factories.accounts import PASSWORD, make_user
from tests.limits.conftest import an_address, graphql_from, student, token_for

RATE_LIMITS = """{ rateLimits {
  messagesPerStudent messagesGlobal loginsPerAddress loginsPerEmail updatedAt } }"""
SET_RATE_LIMITS = """
mutation($input: SetRateLimitsInput!) {
  setRateLimits(input: $input) {
    rateLimits { messagesPerStudent messagesGlobal loginsPerAddress loginsPerEmail updatedAt }
  }
}"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
ENVIRONMENT = {
    "rate_limit_messages_per_student": "",
    "rate_limit_messages_global": "500/hour",
    "rate_limit_logins_per_ip": "",
    "rate_limit_logins_per_email": "",
}
AS_THE_ENVIRONMENT_SETS_THEM = {
    "messagesPerStudent": "",
    "messagesGlobal": "500/hour",
    "loginsPerAddress": "",
    "loginsPerEmail": "",
    "updatedAt": None,
}


@pytest.fixture(scope="module")
async def own_database(database_url: str, tmp_path_factory) -> AsyncIterator[str]:
    """A migrated database on the same backend as `database_url`, for this module only."""
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('limits') / 'practicum.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name, url = await _create_pg_database()
    url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
def practicum(open_app, own_database: str):
    """Makes apps (think: processes) over this module's database, with ENVIRONMENT's
    limits and any `overrides`."""

    def make(**overrides) -> FastAPI:
        return open_app(database_url=own_database, **(ENVIRONMENT | overrides))

    return make


@pytest.fixture(autouse=True)
async def no_stored_limits(practicum) -> AsyncIterator[None]:
    yield
    async with practicum().state.runtime.sessions() as db:
        await db.execute(delete(StoredRateLimits))
        await db.commit()


@pytest.mark.parametrize(
    "name",
    [
        "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT",
        "PRACTICUM_RATE_LIMIT_MESSAGES_PER_USER",  # the old name: deployments keep working
    ],
)
def test_the_per_student_limit_has_one_name_and_still_reads_its_old_one(monkeypatch, name):
    monkeypatch.setenv(name, "7/minute")
    assert RateLimitSpecs.of(Settings()).messages_per_student == "7/minute"


async def user(app: FastAPI, role: Role) -> User:
    async with app.state.runtime.sessions() as db:
        return await make_user(db, role)


async def read_limits(app: FastAPI, who: User) -> dict:
    async with graphql_from(app) as gql:
        data = await gql.ok(RATE_LIMITS, token=token_for(app.state.runtime, who))
    return data["rateLimits"]


async def set_limits(app: FastAPI, who: User, **changes: str) -> dict:
    async with graphql_from(app) as gql:
        data = await gql.ok(SET_RATE_LIMITS, {"input": changes}, token_for(app.state.runtime, who))
    return data["setRateLimits"]["rateLimits"]


async def set_limits_error(app: FastAPI, who: User, **changes: str) -> dict:
    async with graphql_from(app) as gql:
        return await gql.error(
            SET_RATE_LIMITS, {"input": changes}, token_for(app.state.runtime, who)
        )


async def refusal(request) -> ErrorCode | None:
    """The code a request to the limits was refused with, or None when it went through."""
    try:
        await request
    except PracticumError as refused:
        return refused.code
    return None


def refused_codes(outcomes) -> list:
    return [None if outcome is None else outcome.code for outcome in outcomes]


async def send_one_by_one(alice, count: int) -> list:
    """`count` messages, each on its own session, one after another; returns once every
    reply is stored, so that the sessions are free for more."""
    outcomes = [await alice.send(session_id) for session_id in alice.sessions[:count]]
    await alice.settled()
    return outcomes


# Who may


@pytest.mark.parametrize("role", [Role.STUDENT, Role.TEACHER])
async def test_only_admins_see_and_change_the_rate_limits(practicum, role):
    app = practicum()
    someone, admin = await user(app, role), await user(app, Role.ADMIN)
    token = token_for(app.state.runtime, someone)

    async with graphql_from(app) as gql:
        error = await gql.error(RATE_LIMITS, token=token)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "Only admins" in error["message"]
        error = await gql.error(SET_RATE_LIMITS, {"input": {"messagesGlobal": ""}}, token)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert (await gql.error(RATE_LIMITS))["extensions"]["code"] == "UNAUTHENTICATED"

    assert await read_limits(app, admin) == AS_THE_ENVIRONMENT_SETS_THEM


# What is accepted


async def test_admins_see_the_environments_limits_until_they_set_some(practicum):
    app = practicum()
    admin = await user(app, Role.ADMIN)

    assert await read_limits(app, admin) == AS_THE_ENVIRONMENT_SETS_THEM


async def test_a_limit_left_out_stays_as_it_was(practicum):
    app = practicum()
    admin = await user(app, Role.ADMIN)

    changed = await set_limits(app, admin, loginsPerEmail=" 100 per hour ")

    assert changed == AS_THE_ENVIRONMENT_SETS_THEM | {
        "loginsPerEmail": "100 per hour",
        "updatedAt": changed["updatedAt"],
    }
    assert changed["updatedAt"] is not None
    assert await read_limits(app, admin) == changed

    again = await set_limits(app, admin, messagesGlobal="")

    assert again == changed | {"messagesGlobal": "", "updatedAt": again["updatedAt"]}
    assert await read_limits(app, admin) == again


async def test_each_change_of_the_limits_is_in_the_audit_log(practicum):
    app = practicum()
    admin = await user(app, Role.ADMIN)
    await set_limits(app, admin, loginsPerEmail="100 per hour", messagesGlobal="500/hour")
    await set_limits(app, admin, messagesGlobal="")
    await set_limits_error(app, admin, messagesGlobal="lots")  # refused: not recorded

    async with graphql_from(app, address="10.9.8.7") as gql:
        log = await gql.ok(
            """query($a: ID!) { auditLog(filter: {actorId: $a}) {
                 nodes { action targetKind details address } } }""",
            {"a": str(admin.id)},
            token_for(app.state.runtime, admin),
        )
    entries = log["auditLog"]["nodes"]
    assert [(e["action"], e["targetKind"]) for e in entries] == [
        ("rate_limits.set", "rate_limits")
    ] * 2
    # Only what changed, from what to what (a value set as it was is no change).
    assert entries[0]["details"] == {"messages_global": {"from": "500/hour", "to": ""}}
    assert entries[1]["details"] == {"logins_per_email": {"from": "", "to": "100 per hour"}}
    assert {e["address"] for e in entries} == {"127.0.0.1"}


async def test_every_bad_limit_is_named_by_its_field_and_nothing_is_saved(practicum):
    app = practicum()
    admin = await user(app, Role.ADMIN)

    error = await set_limits_error(
        app,
        admin,
        messagesPerStudent="abc",
        messagesGlobal="-1",
        loginsPerAddress="0/minute",
        loginsPerEmail="10/minute;100/hour",
    )

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    problems = {f["field"]: f["message"] for f in error["extensions"]["fields"]}
    assert problems.keys() == {
        "messagesPerStudent",
        "messagesGlobal",
        "loginsPerAddress",
        "loginsPerEmail",
    }
    assert "like 10/minute" in problems["messagesPerStudent"]
    assert problems["messagesPerStudent"].startswith("Messages per student")
    assert "at least 1" in problems["loginsPerAddress"]
    assert "one count per period" in problems["loginsPerEmail"]
    assert await read_limits(app, admin) == AS_THE_ENVIRONMENT_SETS_THEM


@pytest.mark.parametrize(
    "spec", ["10", "ten/minute", "10/fortnight", "10/minute/", "1" * 101 + "/minute"]
)
async def test_a_limit_the_limits_notation_cannot_read_is_refused(practicum, spec):
    app = practicum()
    admin = await user(app, Role.ADMIN)

    error = await set_limits_error(app, admin, messagesGlobal=spec, messagesPerStudent="5/minute")

    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == ["messagesGlobal"]
    assert await read_limits(app, admin) == AS_THE_ENVIRONMENT_SETS_THEM


# What it does


async def test_a_new_per_student_limit_applies_at_once(practicum):
    app = practicum()
    admin = await user(app, Role.ADMIN)
    alice = await student(app.state.runtime, sessions=5)
    assert refused_codes(await send_one_by_one(alice, 2)) == [None, None]  # no limit yet

    await set_limits(app, admin, messagesPerStudent="2/minute")
    outcomes = await send_one_by_one(alice, 5)

    assert refused_codes(outcomes[2:]) == [ErrorCode.RATE_LIMITED] * 3
    assert "faster than practice allows" in outcomes[2].message
    assert 0 < outcomes[2].details["retryAfter"] <= 60


async def test_an_empty_limit_turns_the_rule_off(practicum):
    app = practicum(rate_limit_messages_per_student="1/minute")
    admin = await user(app, Role.ADMIN)
    alice = await student(app.state.runtime, sessions=4)
    assert refused_codes(await send_one_by_one(alice, 2)) == [None, ErrorCode.RATE_LIMITED]

    changed = await set_limits(app, admin, messagesPerStudent="")

    assert changed["messagesPerStudent"] == ""
    assert refused_codes(await send_one_by_one(alice, 4)) == [None] * 4


async def test_a_restarted_app_keeps_the_limits_admins_set(practicum):
    before = practicum()
    admin = await user(before, Role.ADMIN)
    changed = await set_limits(before, admin, messagesPerStudent="2/minute", messagesGlobal="")
    await before.state.runtime.close()

    after = practicum()

    assert await read_limits(after, admin) == changed
    alice = await student(after.state.runtime, sessions=3)
    assert refused_codes(await send_one_by_one(alice, 3)) == [None, None, ErrorCode.RATE_LIMITED]


async def test_another_app_on_the_same_database_follows_within_its_refresh_time(practicum):
    here, there = practicum(), practicum(rate_limit_refresh_seconds=0.5)
    admin = await user(here, Role.ADMIN)
    alice = await student(there.state.runtime, sessions=6)
    bob = await user(there, Role.STUDENT)
    assert refused_codes(await send_one_by_one(alice, 3)) == [None] * 3  # `there` has read

    await set_limits(here, admin, messagesPerStudent="2/minute", loginsPerEmail="1/minute")
    changed_at = time.monotonic()
    await asyncio.sleep(0.6)

    outcomes = await send_one_by_one(alice, 3)
    assert refused_codes(outcomes) == [None, None, ErrorCode.RATE_LIMITED]
    async with graphql_from(there, an_address()) as gql:
        variables = {"e": bob.email, "p": PASSWORD}
        assert "errors" not in await gql(LOGIN, variables)
        assert (await gql.error(LOGIN, variables))["extensions"]["code"] == "RATE_LIMITED"
    assert time.monotonic() - changed_at < 5


# The cost of a turn


async def test_a_turn_reads_the_stored_limits_only_once_per_refresh_time(practicum):
    here, there = practicum(), practicum(rate_limit_refresh_seconds=60)
    admin = await user(here, Role.ADMIN)
    await set_limits(here, admin, messagesPerStudent="4/minute")
    alice = await student(there.state.runtime, sessions=6)
    reads = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "rate_limit_settings" in statement:
            reads.append(statement)

    engine = there.state.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        outcomes = await send_one_by_one(alice, 6)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert refused_codes(outcomes) == [None] * 4 + [ErrorCode.RATE_LIMITED] * 2
    assert len(reads) == 1


async def test_when_the_stored_limits_cannot_be_read_the_current_ones_stay(settings, db, caplog):
    async def unreachable(_session) -> RateLimitSpecs:
        raise OSError("database down")

    limits = RateLimits(
        settings.model_copy(
            update={"rate_limit_messages_per_student": "1/minute", "rate_limit_refresh_seconds": 0}
        ),
        stored=unreachable,
    )

    alice = uuid.uuid4()
    outcomes = [await refusal(limits.message(alice, db)) for _ in range(2)]

    assert outcomes == [None, ErrorCode.RATE_LIMITED]
    assert "could not read the stored rate limits" in caplog.text
