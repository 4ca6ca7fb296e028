"""PostgreSQL connections: pinged before use only when they rested in the pool."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.config import Settings
from api.db import engine as engines
from tests.conftest import PG_ADMIN_URL, _postgres_reachable, skip_or_fail

pytestmark = pytest.mark.postgres
RESTED = 0.2  # seconds: PING_AFTER_IDLE_SECONDS, shortened for the test


@pytest.fixture
async def pg_engine(monkeypatch):
    reason = await _postgres_reachable()
    if reason:
        skip_or_fail(reason)
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", RESTED)
    engine = engines.create_engine(Settings(database_url=PG_ADMIN_URL).sqlalchemy_url)
    yield engine
    await engine.dispose()


async def _backend_of(engine) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT pg_backend_pid()"))


async def _end_backend(pid: int) -> None:
    """What a server restart, or a proxy dropping an idle connection, does to it."""
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_connection_dropped_while_it_rested_is_replaced_before_use(pg_engine):
    ended = await _backend_of(pg_engine)
    await _end_backend(ended)
    await asyncio.sleep(RESTED * 2)

    # The operation succeeds, on a new connection.
    assert await _backend_of(pg_engine) != ended


async def test_a_busy_connection_is_used_without_the_round_trip_of_a_ping(pg_engine):
    # Back in use at once, it is not pinged: dropped meanwhile, the one operation that
    # finds out fails (the pool then starts afresh), which is the price of the round trip.
    ended = await _backend_of(pg_engine)
    await _end_backend(ended)
    with pytest.raises(DBAPIError) as raised:
        await _backend_of(pg_engine)
    assert raised.value.connection_invalidated

    assert await _backend_of(pg_engine) != ended
