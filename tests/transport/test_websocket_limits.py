"""A websocket is bound by what binds HTTP, against a real server: the stored account's rights
(not the token's), the login's expiry, the per-address request limit, the request size
limit, idle timeouts and caps on open sockets. The server believes X-Forwarded-For from
loopback, so each test plays clients at addresses of its own."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from itertools import count

import httpx
import pytest
import websockets
from gql.transport.exceptions import TransportQueryError
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from api.accounts.models import Role, User
from tests.transport.test_session_events import (
    FAST_DELAY,
    JOIN,
    MAYA,
    STUDENT,
    STUDENT2,
    TEACHER,
    Deployment,
    deploy,
    new_students,
    server_runtime,
    signed_token,
    watching,
)
from tests.transport.test_session_events import User as Someone
from tests.transport.test_usage_metrics import a_student_practises, dashboard

ADMIN = "admin@practicum.local"
REQUESTS_PER_MINUTE = 30
IDLE_ANONYMOUS, IDLE_SIGNED_IN = 1.5, 4.0
WAIT = 20.0
SET_RATE_LIMITS = (
    'mutation { setRateLimits(input: {messagesPerStudent: "10/minute"}) '
    "{ rateLimits { messagesPerStudent } } }"
)
TRANSCRIPT = "query($id: ID!) { session(id: $id) { id messages { nodes { content } } } }"


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Deployment]:
    env = {
        "PRACTICUM_HTTP_RATE_LIMIT_PER_IP": f"{REQUESTS_PER_MINUTE}/minute",
        "PRACTICUM_WS_MAX_SOCKETS_PER_IP": "3",
        "PRACTICUM_WS_MAX_SOCKETS_PER_USER": "2",
        "PRACTICUM_WS_ANONYMOUS_IDLE_SECONDS": str(IDLE_ANONYMOUS),
        "PRACTICUM_WS_IDLE_SECONDS": str(IDLE_SIGNED_IN),
        "PRACTICUM_SUBSCRIPTION_RECHECK_SECONDS": "0",
    }
    with deploy(tmp_path_factory.mktemp("ws-limits") / "data", FAST_DELAY, **env) as deployment:
        yield deployment


def an_address() -> str:
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


class Socket:
    """A raw graphql-transport-ws connection, so that the test sees every frame and close."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self._ids = count(1)

    async def run(self, query: str, **variables) -> dict:
        """The operation's result: its `next` payload, or `{"errors": ...}` of an `error`."""
        operation_id = str(next(self._ids))
        payload = {"query": query, "variables": variables}
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})
        async with asyncio.timeout(WAIT):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("id") != operation_id:
                    continue
                if message["type"] == "next":
                    return message["payload"]
                if message["type"] == "error":
                    return {"errors": message["payload"]}

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def close_code(self, within: float = WAIT) -> int | None:
        """How the server closes the socket (fails if it stays open `within` seconds)."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@asynccontextmanager
async def connected(
    url: str, address: str, token: str | None = None, *, init: bool = True
) -> AsyncIterator[Socket]:
    """A socket from `address`; after `connection_init` (with `token`) when `init`."""
    async with websockets.connect(
        url.replace("http://", "ws://", 1) + "/graphql",
        subprotocols=["graphql-transport-ws"],
        additional_headers={"X-Forwarded-For": address},
        max_size=None,
        open_timeout=WAIT,
    ) as ws:
        socket = Socket(ws)
        if init:
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield socket


async def acknowledged(socket: Socket) -> bool:
    """True when the server acknowledged connection_init; False when it closed instead."""
    try:
        async with asyncio.timeout(WAIT):
            return json.loads(await socket.ws.recv())["type"] == "connection_ack"
    except ConnectionClosed:
        return False


def code_of(result: dict) -> str:
    return result["errors"][0]["extensions"]["code"]


async def account(live: Deployment, email: str) -> User:
    async with server_runtime(live) as runtime, runtime.sessions() as db:
        return await db.scalar(select(User).where(User.email == email))


async def change_account(live: Deployment, email: str, **fields) -> None:
    """Change an account straight in the server's database, as an admin tool would."""
    async with server_runtime(live) as runtime, runtime.sessions() as db:
        user = await db.scalar(select(User).where(User.email == email))
        for name, value in fields.items():
            setattr(user, name, value)
        await db.commit()


async def token_of(live: Deployment, email: str, ttl: timedelta = timedelta(hours=1)) -> str:
    async with server_runtime(live) as runtime:
        return signed_token(runtime, await account(live, email), ttl)


# --- rights come from the stored account ----------------------------------------------------


async def test_a_demoted_admin_loses_admin_rights_on_an_open_socket(live):
    [student] = await new_students(live, 1)
    await student.run(JOIN, code=live.join_code)
    session_id = await student.start_session(live.clients[MAYA])
    token = await token_of(live, ADMIN)
    try:
        async with (
            connected(live.url, an_address(), token) as socket,
            watching(live.url, {"Authorization": f"Bearer {token}"}, session_id) as watch,
        ):
            assert await acknowledged(socket)
            assert "errors" not in await socket.run(SET_RATE_LIMITS)
            assert "errors" not in await socket.run(TRANSCRIPT, id=session_id)

            await change_account(live, ADMIN, role=Role.TEACHER)
            assert code_of(await socket.run(SET_RATE_LIMITS)) == "FORBIDDEN"
            assert code_of(await socket.run(TRANSCRIPT, id=session_id)) == "NOT_FOUND"

            # The subscription the admin held ends at its next event, with no event.
            await student.send(session_id, "Hello, how are you today?")
            with pytest.raises(TransportQueryError) as ended:
                await watch.next()
            assert ended.value.errors[0]["extensions"]["code"] == "NOT_FOUND", ended.value
    finally:
        await change_account(live, ADMIN, role=Role.ADMIN)


async def test_a_disabled_admins_live_usage_ends(live):
    admin = Someone(live.url, await token_of(live, ADMIN))
    try:
        async with dashboard(live.url, admin) as board:
            await board.first()
            await change_account(live, ADMIN, active=False)
            await a_student_practises(live)
            with pytest.raises(TransportQueryError) as ended:
                await board.until(lambda figures: False)
        assert ended.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "disabled" in ended.value.errors[0]["message"]
    finally:
        await change_account(live, ADMIN, active=True)


# --- the login's expiry ---------------------------------------------------------------------


async def test_a_socket_closes_with_4401_when_its_login_expires(live):
    token = await token_of(live, TEACHER, ttl=timedelta(seconds=3))
    create = 'mutation { createSection(input: {name: "Before expiry"}) { section { id } } }'
    async with connected(live.url, an_address(), token) as socket:
        assert await acknowledged(socket)
        assert "errors" not in await socket.run(create)
        started = time.monotonic()
        assert await socket.close_code(within=10) == 4401
    assert time.monotonic() - started < 5


# --- the limits HTTP has --------------------------------------------------------------------


async def test_socket_operations_share_the_address_http_request_limit(live):
    async with httpx.AsyncClient(base_url=live.url, timeout=WAIT) as http:

        async def over_http(address: str) -> int:
            response = await http.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"x-forwarded-for": address}
            )
            return response.status_code

        # An address the HTTP limit refused is refused over the socket too.
        refused = an_address()
        answers = [await over_http(refused) for _ in range(REQUESTS_PER_MINUTE + 1)]
        assert answers[-2:] == [200, 429]
        async with connected(live.url, refused) as socket:
            assert await acknowledged(socket)
            result = await socket.run("{ __typename }")
        assert code_of(result) == "RATE_LIMITED"
        assert result["errors"][0]["extensions"]["retryAfter"] >= 1

        # And operations over a socket use up the address's HTTP quota.
        busy = an_address()
        async with connected(live.url, busy) as socket:
            assert await acknowledged(socket)
            results = [await socket.run("{ __typename }") for _ in range(REQUESTS_PER_MINUTE + 5)]
        assert all("errors" not in r for r in results[:REQUESTS_PER_MINUTE])
        assert {code_of(r) for r in results[REQUESTS_PER_MINUTE:]} == {"RATE_LIMITED"}
        assert await over_http(busy) == 429


@pytest.mark.parametrize("size", [100_000, 10_000_000])
async def test_a_frame_larger_than_a_request_closes_the_socket_with_1009(live, size):
    async with connected(live.url, an_address()) as socket:
        assert await acknowledged(socket)
        query = "{ __typename }" + " " * size
        await socket.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
        assert await socket.close_code() == 1009


async def test_idle_sockets_are_closed_sooner_without_a_login(live):
    async with connected(live.url, an_address()) as anonymous:
        assert await acknowledged(anonymous)
        started = time.monotonic()
        assert await anonymous.close_code() == 1000
    assert IDLE_ANONYMOUS - 0.5 < time.monotonic() - started < IDLE_ANONYMOUS + 3

    token = await token_of(live, TEACHER)
    async with connected(live.url, an_address(), token) as signed_in:
        assert await acknowledged(signed_in)
        await asyncio.sleep(IDLE_ANONYMOUS + 1)
        assert "errors" not in await signed_in.run("{ me { email } }")  # still open
        ran = time.monotonic()
        assert await signed_in.close_code() == 1000
    assert IDLE_SIGNED_IN - 0.5 < time.monotonic() - ran < IDLE_SIGNED_IN + 3


async def test_open_sockets_are_capped_per_address_and_per_account(live):
    address = an_address()
    tokens = [await token_of(live, email) for email in (STUDENT, TEACHER, ADMIN)]
    async with (
        connected(live.url, address, tokens[0]) as first,
        connected(live.url, address, tokens[1]) as second,
        connected(live.url, address, tokens[2]) as third,
    ):
        assert [await acknowledged(s) for s in (first, second, third)] == [True] * 3
        async with connected(live.url, address, init=False) as fourth:
            assert await fourth.close_code() == 4429

    token = await token_of(live, STUDENT2)
    async with (
        connected(live.url, an_address(), token) as first,
        connected(live.url, an_address(), token) as second,
    ):
        assert [await acknowledged(s) for s in (first, second)] == [True, True]
        async with connected(live.url, an_address(), token) as third:
            await acknowledged(third)
            assert await third.close_code() == 4429
