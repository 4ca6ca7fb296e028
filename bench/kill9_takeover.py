"""The kill -9 drill: two `practicum serve` processes on one database, 20 replies streaming
slowly (the fake Anthropic server) on the first, which is then killed with SIGKILL.

Measures the time from the kill until every reply is INTERRUPTED and announced (a watcher
on the surviving process hears MessageFailed for each), retries them all on the survivor
to completion, and counts messages lost and accounting drift (session totals against the
sum of their usage records). Prints one line. Default settings (lease 6 s, heartbeat 2 s,
sweep 2 s); `--postgres` for PostgreSQL; REDIS_URL, when set, is passed to both servers.

    .venv/bin/python bench/kill9_takeover.py [--replies 20] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from api.accounts.models import Role
from api.config import Settings
from api.conversations.models import Message, MessageRole, MessageStatus, Session
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.factories.accounts import make_user
from tests.fakes.anthropic_server import FakeAnthropic, Reply
from tests.transport.conftest import run_ok, serve
from tests.transport.test_session_events import JOIN, MAYA, User, signed_token, watching

SECRET = "bench-kill9-" + "x" * 40
LONG = " ".join(f"word{n}" for n in range(300))  # ~2,000 chars, 5 a chunk, 0.1 s apart


async def drill(count: int, postgres: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        data_dir = Path(tmp) / "data"
        env = {"PRACTICUM_JWT_SECRET": SECRET, "PRACTICUM_RATE_LIMIT_MESSAGES_PER_STUDENT": ""}
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        pg_name = None
        if postgres:
            pg_name, url = await _create_pg_database()
            env["DATABASE_URL"] = url
        try:
            return await _run(stack, data_dir, env, count)
        finally:
            if pg_name:
                await _drop_pg_database(pg_name)


async def _run(stack: ExitStack, data_dir: Path, env: dict, count: int) -> str:
    run_ok(data_dir, "migrate", env=env)
    join = re.search(r"join code: (\S+)", run_ok(data_dir, "demo", env=env).stdout).group(1)
    fake = stack.enter_context(
        FakeAnthropic(default=Reply(text=LONG, chunk_chars=5, delay_between_chunks=0.1))
    )
    env |= {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}
    doomed = stack.enter_context(serve(data_dir, env=env))
    survivor = stack.enter_context(serve(data_dir, env=env))
    url = env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir}/practicum.db"
    runtime = Runtime.create(Settings(data_dir=data_dir, database_url=url, jwt_secret=SECRET))
    try:
        async with runtime.sessions() as db:
            users = [await make_user(db, Role.STUDENT) for _ in range(count)]
        students = [User(doomed.url, signed_token(runtime, u)) for u in users]
        await asyncio.gather(*(s.run(JOIN, code=join) for s in students))
        nodes = (await students[0].run("{ clientProfiles { nodes { id name } } }"))[
            "clientProfiles"
        ]["nodes"]
        maya = next(n["id"] for n in nodes if n["name"] == MAYA)
        sessions = list(await asyncio.gather(*(s.start_session(maya) for s in students)))
        async with AsyncExitStack() as watchers:
            watches = [
                await watchers.enter_async_context(
                    watching(survivor.url, {"Authorization": f"Bearer {s.token}"}, sid)
                )
                for s, sid in zip(students, sessions, strict=True)
            ]
            await asyncio.gather(
                *(
                    s.send(sid, "How was your week?")
                    for s, sid in zip(students, sessions, strict=True)
                )
            )
            await asyncio.sleep(3)
            doomed.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            announced = await asyncio.gather(*(_failed(w) for w in watches))
            took = max(announced) - killed
        interrupted = await _count(runtime, sessions, MessageStatus.INTERRUPTED)
        fake.default = Reply(text="Fine, I suppose.")
        survivors = [User(survivor.url, s.token) for s in students]
        replies = await _replies(runtime, sessions)
        await asyncio.gather(
            *(
                s.run(
                    "mutation($m: ID!) { retryReply(messageId: $m) { assistantMessage { id } } }",
                    m=str(replies[uuid.UUID(sid)]),
                )
                for s, sid in zip(survivors, sessions, strict=True)
            )
        )
        deadline = time.monotonic() + 60
        while await _count(runtime, sessions, MessageStatus.COMPLETE) < count:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        completed = await _count(runtime, sessions, MessageStatus.COMPLETE)
        lost, drift = await _books(runtime, sessions, count)
    finally:
        await runtime.close()
    backend = "postgresql" if "DATABASE_URL" in env else "sqlite"
    return (
        f"kill -9 drill ({backend}, {count} replies): all INTERRUPTED and announced "
        f"{took:.1f} s after the kill (target <= 10), interrupted {interrupted}/{count}, "
        f"retried to completion {completed}/{count}, messages lost {lost}, "
        f"accounting drift {drift} tokens"
    )


async def _failed(watch) -> float:
    while (event := await watch.next()) is not None:
        if event.kind == "MessageFailed":
            return event.at
    raise AssertionError("the subscription ended before MessageFailed")


async def _replies(runtime: Runtime, sessions: list[str]) -> dict:
    async with runtime.sessions() as db:
        rows = await db.execute(
            select(Message.session_id, Message.id).where(
                Message.session_id.in_([uuid.UUID(s) for s in sessions]),
                Message.role == MessageRole.ASSISTANT,
            )
        )
        return dict(rows.all())


async def _count(runtime: Runtime, sessions: list[str], status: MessageStatus) -> int:
    async with runtime.sessions() as db:
        return await db.scalar(
            select(func.count()).where(
                Message.session_id.in_([uuid.UUID(s) for s in sessions]),
                Message.role == MessageRole.ASSISTANT,
                Message.status == status,
            )
        )


async def _books(runtime: Runtime, sessions: list[str], count: int) -> tuple[int, int]:
    ids = [uuid.UUID(s) for s in sessions]
    async with runtime.sessions() as db:
        typed = await db.scalar(
            select(func.count()).where(
                Message.session_id.in_(ids), Message.role == MessageRole.USER
            )
        )
        totals = await db.scalar(
            select(func.sum(Session.input_tokens + Session.output_tokens)).where(
                Session.id.in_(ids)
            )
        )
        records = await db.scalar(
            select(func.sum(UsageRecord.input_tokens + UsageRecord.output_tokens)).where(
                UsageRecord.session_id.in_(ids)
            )
        )
    return count - typed, (totals or 0) - (records or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(drill(args.replies, args.postgres)))


if __name__ == "__main__":
    main()
