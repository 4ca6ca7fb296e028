"""Live subscriptions end at once when an admin takes the rights away: deactivating a
student, demoting a teacher, revoking an API key. Against a real `practicum serve` whose
periodic re-check is an hour away, so only the account event can end them in time.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from gql.transport.exceptions import TransportQueryError

from tests.transport.conftest import run_ok, serve
from tests.transport.test_session_events import (
    CLIENTS,
    DEMO_PASSWORD,
    JOIN,
    LOGIN,
    MAYA,
    TEACHER,
    Deployment,
    GraphQLErrors,
    User,
    new_students,
    watching,
)

RECHECK_ENV = {"PRACTICUM_SUBSCRIPTION_RECHECK_SECONDS": "3600"}
AT_ONCE = 3.0  # seconds: the subscription must have ended by then
ADMIN = "admin@practicum.local"

DEACTIVATE = "mutation($id: ID!) { deactivateUser(id: $id) { user { id active } } }"
REACTIVATE = "mutation($id: ID!) { reactivateUser(id: $id) { user { id active } } }"
SET_ROLE = (
    "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { user { role } } }"
)
ME = "{ me { id role } }"
CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id prefix } }
}"""
REVOKE_KEY = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }"


def _login(url: str, email: str, password: str = DEMO_PASSWORD) -> User:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": LOGIN, "variables": {"email": email, "password": password}},
        timeout=20,
    )
    body = response.json()
    assert "errors" not in body, body
    return User(url, body["data"]["login"]["token"])


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp("account-events") / "data"
    with serve(data_dir, env=RECHECK_ENV) as server:
        demo = run_ok(data_dir, "demo")
        join_code = re.search(r"join code: (\S+)", demo.stdout).group(1)
        users = {email: _login(server.url, email) for email in (ADMIN, TEACHER)}
        response = httpx.post(
            f"{server.url}/graphql",
            json={"query": CLIENTS},
            headers={"authorization": f"Bearer {users[TEACHER].token}"},
            timeout=20,
        )
        nodes = response.json()["data"]["clientProfiles"]["nodes"]
        yield Deployment(server, join_code, users, {n["name"]: n["id"] for n in nodes})


async def a_student_mid_session(live: Deployment) -> tuple[User, str, str]:
    """A new student, enrolled, with a session open: (student, their id, the session id)."""
    [student] = await new_students(live, 1)
    await student.run(JOIN, code=live.join_code)
    session_id = await student.start_session(live.clients[MAYA])
    me = await student.run(ME)
    return student, me["me"]["id"], session_id


async def ended_with(watch, within: float = AT_ONCE) -> tuple[dict, float]:
    """The error that ends a subscription, and how long after now it came."""
    start = time.monotonic()
    with pytest.raises(TransportQueryError) as raised:
        event = await asyncio.wait_for(watch.next(), within)
        pytest.fail(f"the subscription went on: {event}")
    return raised.value.errors[0], time.monotonic() - start


async def test_deactivating_a_student_ends_their_live_subscription_at_once(live):
    admin = live.demo[ADMIN]
    student, student_id, session_id = await a_student_mid_session(live)
    async with watching(live.url, student.init_payload(), session_id) as watch:
        await admin.run(DEACTIVATE, id=student_id)
        error, took = await ended_with(watch)
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert "disabled" in error["message"], error
    assert took < AT_ONCE

    # The next request fails too, and reactivating does not bring the old login back.
    with pytest.raises(GraphQLErrors) as refused:
        await student.run(ME)
    assert refused.value.code == "UNAUTHENTICATED"
    await admin.run(REACTIVATE, id=student_id)
    with pytest.raises(GraphQLErrors) as refused:
        await student.run(ME)
    assert refused.value.code == "UNAUTHENTICATED"


async def test_demoting_a_teacher_ends_their_watch_of_a_students_session_at_once(live):
    admin = live.demo[ADMIN]
    _, _, session_id = await a_student_mid_session(live)
    teacher = live.demo[TEACHER]
    teacher_id = (await teacher.run(ME))["me"]["id"]
    try:
        async with watching(live.url, teacher.init_payload(), session_id) as watch:
            await admin.run(SET_ROLE, id=teacher_id, role="STUDENT")
            error, _ = await ended_with(watch)
        assert error["extensions"]["code"] == "NOT_FOUND", error
    finally:
        await admin.run(SET_ROLE, id=teacher_id, role="TEACHER")


async def test_revoking_an_api_key_ends_its_subscription_at_once(live):
    admin = live.demo[ADMIN]
    _, _, session_id = await a_student_mid_session(live)
    created = await admin.run(
        CREATE_KEY, input={"name": "Live dashboard", "role": "ADMIN", "scope": "FULL"}
    )
    key = created["createApiKey"]
    integration = User(live.url, key["secret"])
    assert (await integration.run(ME))["me"]["role"] == "ADMIN"
    async with watching(live.url, integration.init_payload(), session_id) as watch:
        await admin.run(REVOKE_KEY, id=key["apiKey"]["id"])
        error, _ = await ended_with(watch)
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert "revoked" in error["message"], error


async def test_a_read_only_key_may_not_subscribe(live):
    admin = live.demo[ADMIN]
    _, _, session_id = await a_student_mid_session(live)
    created = await admin.run(
        CREATE_KEY, input={"name": "Reports", "role": "ADMIN", "scope": "USAGE_ANALYTICS"}
    )
    integration = User(live.url, created["createApiKey"]["secret"])
    async with watching(live.url, integration.init_payload(), session_id) as watch:
        error, _ = await ended_with(watch)
    assert error["extensions"]["code"] == "FORBIDDEN", error
