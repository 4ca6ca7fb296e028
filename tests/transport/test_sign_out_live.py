"""An ended login closes its live sockets at once (4401), on the real server, without
waiting for the periodic re-check of subscriptions (set to ten minutes here)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from api.accounts.models import Role
from tests.factories.accounts import PASSWORD, make_user
from tests.transport.test_session_events import (
    FAST_DELAY,
    JOIN,
    MAYA,
    SESSION_EVENTS,
    WAIT,
    Deployment,
    User,
    deploy,
    server_runtime,
)
from tests.transport.test_websocket_limits import acknowledged, an_address, connected

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
ME = "{ me { id } }"
PROMPT = 3.0  # seconds within which a socket of an ended login must close


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Deployment]:
    env = {"PRACTICUM_SUBSCRIPTION_RECHECK_SECONDS": "600"}
    with deploy(tmp_path_factory.mktemp("sign-out") / "data", FAST_DELAY, **env) as deployment:
        yield deployment


async def student_with_two_logins(live: Deployment) -> tuple[User, User, str]:
    """A new student in the demo section, logged in twice (say a laptop and a phone), and
    a practice session of theirs."""
    async with server_runtime(live) as runtime, runtime.sessions() as db:
        user = await make_user(db, Role.STUDENT)
    logins = []
    async with httpx.AsyncClient(timeout=WAIT) as http:
        for _ in range(2):
            response = await http.post(
                f"{live.url}/graphql",
                json={"query": LOGIN, "variables": {"e": user.email, "p": PASSWORD}},
            )
            logins.append(User(live.url, response.json()["data"]["login"]["token"]))
    laptop, phone = logins
    await laptop.run(JOIN, code=live.join_code)
    session_id = await laptop.start_session(live.clients[MAYA])
    return laptop, phone, session_id


async def subscribe(socket, session_id: str) -> None:
    payload = {"query": SESSION_EVENTS, "variables": {"sessionId": session_id}}
    await socket.send({"id": "watch", "type": "subscribe", "payload": payload})


async def test_signing_out_closes_that_logins_sockets_and_no_others(live):
    laptop, phone, session_id = await student_with_two_logins(live)
    async with (
        connected(live.url, an_address(), laptop.token) as on_laptop,
        connected(live.url, an_address(), phone.token) as on_phone,
    ):
        assert await acknowledged(on_laptop) and await acknowledged(on_phone)
        await subscribe(on_laptop, session_id)
        await subscribe(on_phone, session_id)

        started = time.monotonic()
        await laptop.run("mutation { signOut { signedOut } }")
        assert await on_laptop.close_code(within=PROMPT) == 4401
        assert time.monotonic() - started < PROMPT

        # The phone's login goes on: its socket still answers.
        assert "errors" not in await on_phone.run(ME)

        await phone.run("mutation { signOutEverywhere { signedOut } }")
        assert await on_phone.close_code(within=PROMPT) == 4401


async def test_a_new_password_closes_the_other_logins_sockets(live):
    laptop, phone, session_id = await student_with_two_logins(live)
    change = """mutation($c: String!, $n: String!) {
      changePassword(input: {currentPassword: $c, newPassword: $n}) { token } }"""
    async with connected(live.url, an_address(), phone.token) as on_phone:
        assert await acknowledged(on_phone)
        await subscribe(on_phone, session_id)
        await laptop.run(change, c=PASSWORD, n="a brand new passphrase")
        assert await on_phone.close_code(within=PROMPT) == 4401
