"""SQLite for asyncio without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close…) in a worker thread and wakes
the event loop for each result: a dozen statements per turn cost more in thread hand-offs
than SQLite spends on them. These small WAL-mode statements take microseconds, so this
connection runs them on the event loop itself and is handed to SQLAlchemy's aiosqlite
dialect in place of an aiosqlite connection (`create_async_engine(async_creator=…)`).

The one wait that must not block the loop is for another process's write lock: SQLite's
own busy handler would sleep on the loop. The busy timeout is 0 instead, and a statement
refused with SQLITE_BUSY is tried again after an `asyncio.sleep`, for up to `busy_timeout`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

RETRY_DELAYS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


class _Inline:
    """Stands in for aiosqlite's queue to its thread: runs the function now."""

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


async def _patiently(busy_timeout: float, call: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + busy_timeout
    for attempt in range(1_000_000):
        try:
            return call()
        except sqlite3.OperationalError as error:
            locked = error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not locked or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
    raise AssertionError("unreachable")


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout: float) -> None:
        self._cursor = cursor
        self._busy_timeout = busy_timeout

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._cursor.close()

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await _patiently(self._busy_timeout, lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, rows: Iterable[Any]) -> InlineCursor:
        rows = list(rows)
        await _patiently(self._busy_timeout, lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self):
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None):
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self):
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """The parts of aiosqlite.Connection that SQLAlchemy's aiosqlite dialect uses.

    That dialect reads aiosqlite's private `_conn`, `_connection` and `_tx`, so this
    imitates them: neither library has a public way to run statements without the thread
    (plain aiosqlite took 60% more CPU per turn in bench/turns_per_second.py). Hence the
    exact pins of SQLAlchemy and aiosqlite, and tests/unit/test_sqlite_inline.py, which
    fails when what the dialect reads changes.
    """

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._busy_timeout = busy_timeout
        self._tx = _Inline()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._busy_timeout)

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await _patiently(self._busy_timeout, self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def connector(path: str, busy_timeout: float) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: inline connections to `path`."""

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
        return InlineConnection(connection, busy_timeout)

    return connect
