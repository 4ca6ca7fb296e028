"""SQLite on the event loop: waiting for another process's write lock must not stop it."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
import threading
import time

import pytest
import sqlalchemy.connectors.asyncio
import sqlalchemy.dialects.sqlite.aiosqlite

from api.db import sqlite_inline

# What SQLAlchemy 2.1.9's aiosqlite adapter reads off the driver's connection and cursor,
# private attributes of aiosqlite 0.22.1 included, and so what InlineConnection imitates.
READ_OFF_THE_CONNECTION = {
    "_conn", "_connection", "_tx", "close", "commit", "create_function", "cursor",
    "isolation_level", "rollback", "stop",
}  # fmt: skip
READ_OFF_THE_CURSOR = {
    "__aenter__", "__aiter__", "arraysize", "close", "description", "execute",
    "executemany", "fetchall", "fetchmany", "fetchone", "lastrowid", "nextset", "rowcount",
    "setinputsizes",
}  # fmt: skip
NEVER_CALLED_HERE = {"__aiter__", "nextset", "setinputsizes"}  # server-side cursors, scripts


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


def _read_by_sqlalchemy(pattern: str) -> set[str]:
    modules = (sqlalchemy.connectors.asyncio, sqlalchemy.dialects.sqlite.aiosqlite)
    found = [re.findall(pattern, inspect.getsource(module)) for module in modules]
    return {name for matches in found for groups in matches for name in groups if name}


def test_sqlalchemy_reads_what_the_inline_connection_imitates():
    """Fails on an upgrade that changes what SQLAlchemy reads off aiosqlite's connection:
    then check sqlite_inline against the new adapter and update the pins and these sets."""
    on_connection = _read_by_sqlalchemy(r"self\._connection\.(\w+)|\bconnection\.(cursor)\(")
    on_cursor = _read_by_sqlalchemy(r"self\._cursor\.(\w+)|\bcursor\.(__a\w+__)\(")
    assert on_connection == READ_OFF_THE_CONNECTION
    assert on_cursor == READ_OFF_THE_CURSOR
    inline = sqlite_inline.InlineConnection(sqlite3.connect(":memory:"), busy_timeout=1)
    cursor = inline.cursor()
    assert [n for n in READ_OFF_THE_CONNECTION if not hasattr(inline, n)] == []
    assert [n for n in READ_OFF_THE_CURSOR - NEVER_CALLED_HERE if not hasattr(cursor, n)] == []
    inline.stop()
