"""Several real `practicum serve` processes on one PostgreSQL and one Redis, the way a
deployment runs replicas: the same DATABASE_URL, REDIS_URL and signing secret each.

The model is the fake Anthropic server (real SDK, real HTTP), so replies stream in chunks
and cost money (for the alert tests). Only loopback addresses.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from redis.asyncio import Redis

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.config import Settings
from api.runtime import Runtime
from tests.conftest import (
    TEST_JWT_SECRET,
    _create_pg_database,
    _drop_pg_database,
    _postgres_reachable,
    skip_or_fail,
)
from tests.factories.accounts import actor, make_user
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.limits.conftest import REDIS_URL, _redis_unreachable
from tests.transport import conftest as transport
from tests.transport.conftest import Server, run_ok, serve
from tests.transport.test_session_events import CLIENTS, JOIN, MAYA, User

# A reply of ~40 chunks, 30 ms apart: about 1.2 s of streaming, time to join it midway.
REPLY_TEXT = (
    "Honestly, I don't really know where to start. Since the move I lie awake most "
    "nights going over everything, work, my sister, money, and by morning I am so tired "
    "that I snap at people I care about. I keep telling myself it will pass, but it has "
    "been weeks now and it only seems to be getting heavier."
)
CHUNK_CHARS = 8
# Several replicas start at once on a machine that may be busy: give them time.
transport.START_TIMEOUT = max(transport.START_TIMEOUT, 90.0)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A throwaway PostgreSQL database (its plain postgresql:// URL, as platforms give it)."""
    reason = await _postgres_reachable()
    if reason:
        skip_or_fail(reason)
    name, url = await _create_pg_database()
    try:
        yield url
    finally:
        await _drop_pg_database(name)


@asynccontextmanager
async def redis_prefix(url: str = REDIS_URL) -> AsyncIterator[str]:
    reason = await _redis_unreachable()
    if reason and url == REDIS_URL:
        skip_or_fail(reason)
    prefix = f"practicum-test-{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        redis = Redis.from_url(url)
        try:
            keys = [key async for key in redis.scan_iter(f"{prefix}*")]
            if keys:
                await redis.delete(*keys)
        except OSError:
            pass
        finally:
            await redis.aclose()


@dataclass
class Cluster:
    servers: list[Server]
    data_dir: Path
    env: dict[str, str]
    join_code: str
    clients: dict[str, str] = field(default_factory=dict)  # client profile id by name

    @property
    def a(self) -> str:
        return self.servers[0].url

    @property
    def b(self) -> str:
        return self.servers[1].url

    def output(self) -> str:
        return "".join(server.output() for server in self.servers)

    async def new_student(self) -> User:
        """A new student in the demo section, logged in on replica A (written straight to
        the database: a login costs each server an argon2 hash)."""
        settings = Settings(
            database_url=self.env["DATABASE_URL"],
            data_dir=self.data_dir,
            jwt_secret=TEST_JWT_SECRET,
        )
        runtime = Runtime.create(settings)
        try:
            async with runtime.sessions() as db:
                user = await make_user(db, Role.STUDENT)
                await db.commit()
            token = issue_token(actor(user), TEST_JWT_SECRET, timedelta(hours=1))[0]
        finally:
            await runtime.close()
        student = User(self.a, token)
        await student.run(JOIN, code=self.join_code)
        if not self.clients:
            nodes = (await student.run(CLIENTS))["clientProfiles"]["nodes"]
            self.clients.update({n["name"]: n["id"] for n in nodes})
        return student

    async def maya_session(self, student: User) -> str:
        return await student.start_session(self.clients[MAYA])


def on(url: str, user: User) -> User:
    """The same login, talking to another replica."""
    return User(url, user.token)


def replica_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PRACTICUM_REDIS_PREFIX": prefix,
        "PRACTICUM_JWT_SECRET": TEST_JWT_SECRET,
        "PRACTICUM_LOG_FORMAT": "json",
        **extra,
    }


@contextmanager
def fake_model(delay: float = 0.03) -> Iterator[FakeAnthropic]:
    reply = Reply(text=REPLY_TEXT, chunk_chars=CHUNK_CHARS, delay_between_chunks=delay)
    with FakeAnthropic(default=reply) as fake:
        yield fake


@contextmanager
def cluster(data_dir: Path, env: dict[str, str], count: int = 2) -> Iterator[Cluster]:
    """Migrate and add the demo once (release), then `count` replicas side by side (web)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    run_ok(data_dir, "migrate", env=env)
    demo = run_ok(data_dir, "demo", env=env)
    join_code = re.search(r"join code: (\S+)", demo.stdout).group(1)
    with ExitStack() as stack, ThreadPoolExecutor(count) as pool:
        started = [pool.submit(stack.enter_context, serve(data_dir, env=env)) for _ in range(count)]
        servers = [future.result() for future in started]
        yield Cluster(servers, data_dir, env, join_code)


async def settled(user: User, session_id: str, seconds: float = 20.0) -> dict:
    """The session once no reply streams."""
    async with asyncio.timeout(seconds):
        while True:
            session = await user.session(session_id)
            statuses = [m["status"] for m in session["messages"]["nodes"]]
            if "STREAMING" not in statuses:
                return session
            await asyncio.sleep(0.05)
