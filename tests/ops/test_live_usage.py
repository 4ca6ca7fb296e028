"""The live usage hub behind `usageMetrics`, in process: many admins opening the dashboard at
the same moment cost one snapshot of the database, not one each, and all see the same figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, func, select

from api.accounts.models import Role
from api.usage.live import TTFT_WINDOW, LiveUsage, snapshot
from api.usage.models import UsageRecord
from tests.factories.accounts import make_user
from tests.factories.clients import make_profile
from tests.factories.usage import Call, add_usage, make_session


@contextmanager
def counting_queries(runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = runtime.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_fifty_admins_opening_the_dashboard_at_once_share_one_snapshot(runtime):
    with counting_queries(runtime) as one_snapshot:
        async with runtime.read_sessions() as session:
            await snapshot(session)

    hub = LiveUsage(runtime.read_sessions)
    watchers = [hub.watch() for _ in range(50)]
    try:
        with counting_queries(runtime) as queries:
            firsts = await asyncio.gather(*(anext(watcher) for watcher in watchers))
    finally:
        for watcher in watchers:
            await watcher.aclose()
        await hub.aclose()

    assert len({first.at for first in firsts}) == 1, "admins were shown different figures"
    assert len(queries) == len(one_snapshot)


async def _replies_answered(db, conversation, *first_token_ms: int, ago=timedelta(0)) -> None:
    calls = [Call(0, 0, "0", ttft_ms=ttft) for ttft in first_token_ms]
    await add_usage(db, conversation, datetime.now(UTC) - ago, calls=calls)


async def _timed_replies_in_window(runtime) -> int:
    window = datetime.now(UTC) - TTFT_WINDOW
    async with runtime.read_sessions() as session:
        return await session.scalar(
            select(func.count()).where(
                UsageRecord.created_at >= window, UsageRecord.ttft_ms.is_not(None)
            )
        )


async def test_time_to_first_token_follows_the_replies_of_the_last_five_minutes(
    runtime, db, settings
):
    student = await make_user(db, Role.STUDENT)
    profile = await make_profile(db, settings, await make_user(db, Role.TEACHER))
    conversation = await make_session(db, student, profile, datetime.now(UTC))

    async def first_token() -> tuple[int | None, int | None]:
        async with runtime.read_sessions() as session:
            figures = await snapshot(session)
        return figures.ttft_p50_ms, figures.ttft_p95_ms

    # Everything other tests left in the window, then slower replies that must move both.
    before = await first_token()
    others = await _timed_replies_in_window(runtime)
    await _replies_answered(db, conversation, *[1_000_000] * 50)
    slower = await first_token()
    assert slower[1] == 1_000_000 and slower != before
    # More than half of the window now: the median moves too.
    await _replies_answered(db, conversation, *[2_000_000] * (others + 51))
    assert await first_token() == (2_000_000, 2_000_000)
    # Replies older than five minutes no longer count.
    await _replies_answered(db, conversation, *[3_000_000] * 500, ago=timedelta(minutes=6))
    assert await first_token() == (2_000_000, 2_000_000)
