"""The live usage hub behind `usageMetrics`, in process: many admins opening the dashboard at
the same moment cost one snapshot of the database, not one each, and all see the same figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from api.usage.live import LiveUsage, snapshot


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
