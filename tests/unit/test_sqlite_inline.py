"""SQLite on the event loop: waiting for another process's write lock must not stop it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from api.db import sqlite_inline


def _hold_write_lock(path, seconds: float, held: threading.Event) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


async def _ticks_while(awaitable) -> tuple[object, int]:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        return await awaitable, ticks
    finally:
        ticker.cancel()


async def test_a_writer_waits_for_the_lock_without_blocking_the_loop(tmp_path):
    path = str(tmp_path / "db.sqlite")
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 0.3, held))
    holder.start()
    held.wait()
    connection = await sqlite_inline.connector(path, busy_timeout=5)()
    connection._conn.isolation_level = None
    started = time.monotonic()

    cursor, ticks = await _ticks_while(connection.execute("BEGIN IMMEDIATE"))

    waited = time.monotonic() - started
    assert waited >= 0.2  # it did wait for the other writer
    assert ticks >= 10  # and the loop kept running meanwhile (about one tick per 10 ms)
    await cursor.execute("COMMIT")
    await connection.close()
    holder.join()


async def test_a_writer_gives_up_after_the_busy_timeout(tmp_path):
    path = str(tmp_path / "db.sqlite")
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    held = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, 0.5, held))
    holder.start()
    held.wait()
    connection = await sqlite_inline.connector(path, busy_timeout=0.1)()
    connection._conn.isolation_level = None

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await connection.execute("BEGIN IMMEDIATE")
    await connection.close()
    holder.join()
