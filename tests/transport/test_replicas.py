"""Replies that survive a process: two `practicum serve` processes on one database, the
Anthropic path at the fake server streaming slowly. kill -9 of the process streaming five
replies: the other one interrupts them within seconds (text so far kept, ErrorEvent, totals
equal to the records) and retries them to completion. SIGTERM: replies that finish within
the drain deadline complete, the rest are INTERRUPTED and announced, new sends are refused,
websockets close with 1012. A reply streaming for longer than any lease is never cut."""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.accounts.models import Role
from api.config import Settings
from api.conversations.models import Message, MessageRole, MessageStatus, Session
from api.ops.models import ErrorEvent
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.conftest import _create_pg_database, _drop_pg_database, _postgres_reachable
from tests.factories.accounts import make_user
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.transport.conftest import PRACTICUM, free_port, practicum_env, run_ok, serve
from tests.transport.test_session_events import (
    JOIN,
    MAYA,
    GraphQLErrors,
    User,
    close_codes,
    signed_token,
    watching,
)

LONG = " ".join(f"word{n}" for n in range(120))  # ~800 chars, 5 a chunk, 0.1 s apart: ~16 s
SHORT = "Fine, I suppose."
FAST_LEASES = {
    "PRACTICUM_REPLY_LEASE_SECONDS": "3",
    "PRACTICUM_REPLY_HEARTBEAT_SECONDS": "1",
    "PRACTICUM_REPLY_SWEEP_SECONDS": "1",
    "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT": "",
    "PRACTICUM_LOG_FORMAT": "text",
}
SECRET = "replicas-test-" + secrets.token_hex(24)


@dataclass
class Database:
    data_dir: Path
    env: dict[str, str]
    join_code: str

    def settings(self) -> Settings:
        url = self.env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{self.data_dir}/practicum.db"
        return Settings(data_dir=self.data_dir, database_url=url, jwt_secret=SECRET)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request, tmp_path) -> AsyncIterator[Database]:
    data_dir = tmp_path / "data"
    env = {"PRACTICUM_JWT_SECRET": SECRET}
    name = None
    if request.param == "postgres":
        reason = await _postgres_reachable()
        if reason:
            pytest.skip(reason)
        name, url = await _create_pg_database()
        env["DATABASE_URL"] = url
        # With the Redis broker: events cross the processes (a db of this module's own).
        env["REDIS_URL"] = "redis://127.0.0.1:6379/11"
    run_ok(data_dir, "migrate", env=env)
    demo = run_ok(data_dir, "demo", env=env)
    join_code = re.search(r"join code: (\S+)", demo.stdout).group(1)
    try:
        yield Database(data_dir, env, join_code)
    finally:
        if name is not None:
            await _drop_pg_database(name)


@asynccontextmanager
async def runtime_of(database: Database) -> AsyncIterator[Runtime]:
    runtime = Runtime.create(database.settings())
    try:
        yield runtime
    finally:
        await runtime.close()


async def students(database: Database, url: str, count: int) -> list[User]:
    async with runtime_of(database) as runtime:
        async with runtime.sessions() as db:
            users = [await make_user(db, Role.STUDENT) for _ in range(count)]
        found = [User(url, signed_token(runtime, user)) for user in users]
    await asyncio.gather(*(s.run(JOIN, code=database.join_code) for s in found))
    return found


async def maya(student: User) -> str:
    clients = await student.run("{ clientProfiles { nodes { id name } } }")
    return next(c["id"] for c in clients["clientProfiles"]["nodes"] if c["name"] == MAYA)


def on(student: User, url: str) -> User:
    return User(url, student.token)


async def replies_of(database: Database, session_ids: list[str]) -> list[Message]:
    session_ids = [uuid.UUID(sid) for sid in session_ids]
    async with runtime_of(database) as runtime, runtime.sessions() as db:
        rows = await db.scalars(
            select(Message).where(
                Message.session_id.in_(session_ids), Message.role == MessageRole.ASSISTANT
            )
        )
        return list(rows)


async def accounting(database: Database, session_ids: list[str]) -> dict:
    """Per session: its totals, the sum of its records; and the interruptions logged."""
    session_ids = [uuid.UUID(sid) for sid in session_ids]
    async with runtime_of(database) as runtime, runtime.sessions() as db:
        sessions = await db.scalars(select(Session).where(Session.id.in_(session_ids)))
        totals = {s.id: (s.input_tokens, s.output_tokens, s.estimated_cost) for s in sessions}
        sums = {}
        for sid in totals:
            row = (
                await db.execute(
                    select(
                        func.coalesce(func.sum(UsageRecord.input_tokens), 0),
                        func.coalesce(func.sum(UsageRecord.output_tokens), 0),
                        func.coalesce(func.sum(UsageRecord.cost), 0),
                    ).where(UsageRecord.session_id == sid)
                )
            ).one()
            sums[sid] = (row[0], row[1], Decimal(row[2]))
        errors = await db.scalar(
            select(func.count()).where(
                ErrorEvent.session_id.in_(session_ids), ErrorEvent.category == "reply.interrupted"
            )
        )
        estimated = await db.scalar(
            select(func.count()).where(
                UsageRecord.session_id.in_(session_ids), UsageRecord.estimated.is_(True)
            )
        )
    return {"totals": totals, "sums": sums, "errors": errors, "estimated": estimated}


def in_order(replies: list[Message], session_ids: list[str]) -> list[Message]:
    return sorted(replies, key=lambda reply: session_ids.index(str(reply.session_id)))


async def eventually(check, within: float = 20.0, every: float = 0.2):
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {check}")
        await asyncio.sleep(every)


async def test_kill_9_of_a_process_streaming_five_replies_another_takes_over(database):
    with ExitStack() as stack:
        fake = stack.enter_context(
            FakeAnthropic(default=Reply(text=LONG, chunk_chars=5, delay_between_chunks=0.1))
        )
        env = {
            **database.env,
            **FAST_LEASES,
            "ANTHROPIC_API_KEY": fake.api_key,
            "ANTHROPIC_BASE_URL": fake.url,
        }
        doomed = stack.enter_context(serve(database.data_dir, env=env))
        survivor = stack.enter_context(serve(database.data_dir, env=env))
        five = await students(database, doomed.url, 5)
        client = await maya(five[0])
        session_ids = [await s.start_session(client) for s in five]
        async with watching(
            survivor.url, on(five[0], survivor.url).init_payload(), session_ids[0]
        ) as watch:
            await asyncio.gather(
                *(
                    s.send(sid, "How was your week?")
                    for s, sid in zip(five, session_ids, strict=True)
                )
            )
            await asyncio.sleep(2.5)  # a couple of heartbeats: some text is stored
            doomed.process.send_signal(signal.SIGKILL)
            doomed.process.wait(timeout=5)
            killed_at = time.monotonic()

            async def all_interrupted():
                replies = await replies_of(database, session_ids)
                done = all(r.status is MessageStatus.INTERRUPTED for r in replies)
                return replies if done else None

            replies = await eventually(all_interrupted)
            took = time.monotonic() - killed_at
            # Announced to a watcher on the surviving process (its own event, no broker
            # across processes needed: the survivor stored it).
            event = await watch.next()
            while event is not None and event.kind == "MessageDelta":
                event = await watch.next()
        assert took < 8, f"interrupted {took:.1f} s after the kill"
        assert event is not None and event.kind == "MessageFailed", event
        assert event.data["message"]["status"] == "INTERRUPTED"
        for reply in replies:  # what the student had seen is kept
            assert len(reply.content) >= 10 and LONG.startswith(reply.content), reply.content
        books = await accounting(database, session_ids)
        assert books["errors"] == 5 and books["estimated"] == 5
        assert books["totals"] == books["sums"]

        # The student is not refused with CONFLICT: retried on the survivor, completed.
        fake.default = Reply(text=SHORT)
        retried = await asyncio.gather(
            *(
                on(s, survivor.url).run(
                    "mutation($m: ID!) { retryReply(messageId: $m) { assistantMessage { id } } }",
                    m=str(r.id),
                )
                for s, r in zip(
                    five,
                    sorted(replies, key=lambda r: session_ids.index(str(r.session_id))),
                    strict=True,
                )
            )
        )
        assert len(retried) == 5

        async def all_complete():
            got = await replies_of(database, session_ids)
            return got if all(r.status is MessageStatus.COMPLETE for r in got) else None

        final = await eventually(all_complete)
        assert {r.content for r in final} == {SHORT}
        books = await accounting(database, session_ids)
        assert books["totals"] == books["sums"]
        async with runtime_of(database) as runtime, runtime.sessions() as db:
            users = await db.scalar(
                select(func.count()).where(
                    Message.session_id.in_([uuid.UUID(s) for s in session_ids]),
                    Message.role == MessageRole.USER,
                )
            )
        assert users == 5  # nothing the students typed is lost


async def test_sigterm_drains_finishes_short_replies_interrupts_long_ones(database):
    with ExitStack() as stack:
        fake = stack.enter_context(FakeAnthropic())
        env = {
            **database.env,
            **FAST_LEASES,
            "PRACTICUM_DRAIN_SECONDS": "2",
            "ANTHROPIC_API_KEY": fake.api_key,
            "ANTHROPIC_BASE_URL": fake.url,
        }
        server = stack.enter_context(serve(database.data_dir, env=env))
        short, long_, late = await students(database, server.url, 3)
        client = await maya(short)
        sessions = [await s.start_session(client) for s in (short, long_, late)]
        fake.enqueue(
            Reply(text=SHORT, chunk_chars=2, delay_between_chunks=0.1),  # ~1 s
            Reply(text=LONG, chunk_chars=5, delay_between_chunks=0.1),  # ~16 s
        )
        async with watching(server.url, long_.init_payload(), sessions[1]) as watch:
            await short.send(sessions[0], "Hello?")
            await long_.send(sessions[1], "Tell me everything.")
            await asyncio.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            with pytest.raises(GraphQLErrors) as refused:
                await late.send(sessions[2], "Are you there?")
            events = []
            error = None
            try:
                while (event := await watch.next()) is not None:
                    events.append(event)
            except Exception as exc:  # the socket closing
                error = exc
        server.process.wait(timeout=20)
    assert refused.value.code == "UNAVAILABLE"
    assert "restarting" in refused.value.errors[0]["message"]
    kinds = [e.kind for e in events]
    assert "MessageFailed" in kinds, kinds  # announced before the socket closed
    assert 1012 in close_codes(error) or watch.finished, (kinds, error)
    replies = {str(r.session_id): r for r in await replies_of(database, sessions)}
    assert replies[sessions[0]].status is MessageStatus.COMPLETE
    assert replies[sessions[0]].content == SHORT
    interrupted = replies[sessions[1]]
    assert interrupted.status is MessageStatus.INTERRUPTED
    assert len(interrupted.content) > 10 and LONG.startswith(interrupted.content)
    assert sessions[2] not in replies  # the refused send stored nothing
    books = await accounting(database, sessions)
    assert books["totals"] == books["sums"] and books["errors"] == 1


async def test_a_reply_streaming_longer_than_its_lease_is_not_cut(database):
    with ExitStack() as stack:
        fake = stack.enter_context(
            FakeAnthropic(default=Reply(text=LONG[:300], chunk_chars=5, delay_between_chunks=0.12))
        )
        env = {
            **database.env,
            **FAST_LEASES,
            "ANTHROPIC_API_KEY": fake.api_key,
            "ANTHROPIC_BASE_URL": fake.url,
        }
        one = stack.enter_context(serve(database.data_dir, env=env))
        other = stack.enter_context(serve(database.data_dir, env=env))  # sweeping too
        [student] = await students(database, one.url, 1)
        session_id = await student.start_session(await maya(student))
        async with watching(one.url, student.init_payload(), session_id) as watch:
            await student.send(session_id, "Take your time.")  # ~7 s: over twice the lease
            events = await watch.reply()
        assert other.process.poll() is None
    assert events[-1].kind == "MessageCompleted", [e.kind for e in events]
    [reply] = await replies_of(database, [session_id])
    assert (reply.status, reply.content) == (MessageStatus.COMPLETE, LONG[:300])


def test_serve_with_two_workers_answers_and_stops_on_sigterm(tmp_path):
    """`practicum serve --workers 2`: two worker processes on one port (the embedded
    database migrated once, by the parent), each its own process; SIGTERM stops them all."""
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "workers.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(PRACTICUM), "serve", "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=practicum_env(data_dir),
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        workers = [pid for pid in children if "serve" in _cmdline(pid) or "spawn" in _cmdline(pid)]
        assert len(workers) >= 2, (children, [_cmdline(pid) for pid in children])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert (data_dir / "practicum.db").exists()


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""
