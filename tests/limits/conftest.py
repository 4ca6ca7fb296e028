"""Fixtures for the rate limit tests: apps of the test's own with limits turned on, counting
in memory or in Redis (127.0.0.1:6379, or PRACTICUM_TEST_REDIS) under a key prefix of the
test's own, and students with as many practice sessions as a test needs."""

from __future__ import annotations

import asyncio
import os
import secrets
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from limits.aio.storage import MemoryStorage, Storage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.accounts.models import Role, User
from api.accounts.security import issue_token
from api.app import create_app
from api.config import Settings
from api.conversations import service
from api.errors import PracticumError
from api.limits.rate import RateLimits, storage_for
from api.runtime import Runtime
from tests.conftest import GraphQLClient, skip_or_fail
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.factories.conversations import settled

REDIS_URL = os.environ.get("PRACTICUM_TEST_REDIS", "redis://127.0.0.1:6379")
QUESTION = "How have you been sleeping lately?"


async def _redis_unreachable() -> str | None:
    redis = Redis.from_url(REDIS_URL)
    try:
        async with asyncio.timeout(3):
            await redis.ping()
    except (TimeoutError, OSError, RedisError) as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc.__class__.__name__}: {exc})"
    finally:
        await redis.aclose()
    return None


@asynccontextmanager
async def _redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards. Skips the test
    when Redis does not answer (fails it under CI=true)."""
    reason = await _redis_unreachable()
    if reason:
        skip_or_fail(reason)
    prefix = f"practicum-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    async with _redis_prefix() as prefix:
        yield prefix


@dataclass
class TlsRedis:
    url: str
    connections: int = 0


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def redis_over_tls(tmp_path, redis_prefix: str) -> AsyncIterator[TlsRedis]:
    """A rediss:// URL that reaches the test Redis: a TLS listener on loopback with a
    self-signed certificate, relaying to Redis. Counts the connections it relayed."""
    cert, key = tmp_path / "redis.crt", tmp_path / "redis.key"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    await asyncio.to_thread(
        subprocess.run,
        [*openssl, *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    upstream = urlsplit(REDIS_URL)

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.connections += 1
        to_redis = await asyncio.open_connection(upstream.hostname, upstream.port or 6379)
        await asyncio.gather(_relay(reader, to_redis[1]), _relay(to_redis[0], writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    served = TlsRedis(f"rediss://127.0.0.1:{port}{upstream.path}?ssl_ca_certs={cert}")
    async with server:
        yield served


@pytest.fixture(params=["memory", "redis"])
async def storage(request) -> AsyncIterator[Storage]:
    """Where the limits count: memory, or Redis under a key prefix of the test's own."""
    if request.param == "memory":
        yield MemoryStorage()
        return
    async with _redis_prefix() as prefix:
        yield storage_for(Settings(redis_url=REDIS_URL), key_prefix=prefix)


@pytest.fixture
async def open_app(settings: Settings):
    """Makes apps with `overrides` on the test settings (where every limit is off), whose
    message and login limits count in `storage` when given. Closes them afterwards."""
    made: list[FastAPI] = []

    def make(storage: Storage | None = None, **overrides) -> FastAPI:
        app = create_app(settings.model_copy(update=overrides))
        if storage is not None:
            runtime = app.state.runtime
            stored = runtime.rate_limits.stored
            runtime.rate_limits = RateLimits(runtime.settings, storage, stored=stored)
            runtime.turn_limits.rates = runtime.rate_limits
        made.append(app)
        return app

    yield make
    for app in made:
        await app.state.runtime.close()


@pytest.fixture
def limited(open_app, storage: Storage):
    """Makes an app with the given limits on, counting in this test's storage."""

    def make(**limits) -> FastAPI:
        return open_app(storage, **limits)

    return make


@asynccontextmanager
async def graphql_from(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[GraphQLClient]:
    """GraphQL over HTTP to `app`, from a network address of the test's choosing."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://practicum.test") as http:
        yield GraphQLClient(http, app.state.runtime)


def an_address() -> str:
    """A network address no other test uses."""
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


def token_for(runtime: Runtime, user: User) -> str:
    return issue_token(actor(user), runtime.settings.signing_secret(), timedelta(hours=1))[0]


@dataclass
class Student:
    """A student with active practice sessions, one per client."""

    runtime: Runtime
    user: User
    sessions: list[uuid.UUID]

    @property
    def token(self) -> str:
        return token_for(self.runtime, self.user)

    async def send(
        self, session_id: uuid.UUID | None = None, text: str = QUESTION, key: str | None = None
    ) -> PracticumError | None:
        """Send a message through the service; the refusal, or None when it was accepted."""
        runtime = self.runtime
        try:
            async with runtime.sessions() as db:
                await service.send_message(
                    db,
                    actor(self.user),
                    runtime.settings,
                    runtime.replies,
                    session_id or self.sessions[0],
                    text,
                    key,
                    limits=runtime.turn_limits,
                )
                await db.commit()
        except PracticumError as refused:
            return refused
        return None

    async def send_on_each(self, sessions: list[uuid.UUID]) -> list[PracticumError | None]:
        """One message on each session, all at once."""
        return await asyncio.gather(*(self.send(session_id) for session_id in sessions))

    async def settled(self) -> None:
        """Wait until every reply in flight is stored."""
        for session_id in self.sessions:
            await settled(self.runtime.replies, session_id)


async def students(runtime: Runtime, count: int = 1, *, sessions: int = 1) -> list[Student]:
    """`count` students of one section, each with an active session with each of
    `sessions` clients of their teacher's."""
    settings = runtime.settings
    async with runtime.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        users = [await make_user(db, Role.STUDENT) for _ in range(count)]
        profiles = [
            await make_profile(db, settings, teacher, name=f"Client {n}") for n in range(sessions)
        ]
        section = await make_section(db, settings, teacher, *users)
        for first in range(0, sessions, 20):  # an assignment has at most 20 clients
            await make_assignment(db, settings, teacher, section, *profiles[first : first + 20])
        made = []
        for user in users:
            started = [
                (await service.start_session(db, actor(user), settings, profile.id))[0].id
                for profile in profiles
            ]
            made.append(Student(runtime, user, started))
        await db.commit()
    return made


async def student(runtime: Runtime, *, sessions: int = 1) -> Student:
    return (await students(runtime, sessions=sessions))[0]
