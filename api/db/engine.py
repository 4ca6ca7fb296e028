"""Engines and session factories for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time

from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.db import sqlite_inline
from api.db.session import SerialSession

log = logging.getLogger("practicum.db")

BUSY_TIMEOUT_SECONDS = 30.0
CHECKPOINTS_ATTRIBUTE = "practicum_checkpoints_elsewhere"
CHECKPOINT_EVERY_SECONDS = 1.0
# A PostgreSQL connection that rested in the pool longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def checkpoint_in_background(*engines: AsyncEngine) -> asyncio.Task:
    """Copy SQLite's write-ahead log into the database from a thread, every second.

    SQLite would otherwise do it inside some commit, with an fsync, and this process's
    statements run on the event loop (see sqlite_inline): every stream would stall for
    it. Call before the engines open connections.
    """
    for engine in engines:
        setattr(engine.sync_engine, CHECKPOINTS_ATTRIBUTE, True)
    path = make_url(engines[0].url).database

    def checkpoint() -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)) as db:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def forever() -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY_SECONDS)
            try:
                await asyncio.to_thread(checkpoint)
            except sqlite3.Error:
                log.exception("could not checkpoint the SQLite log")

    return asyncio.create_task(forever(), name="sqlite-checkpoints")


def create_engine(url: str, *, read_only: bool = False, **kwargs) -> AsyncEngine:
    """An engine for `url`. On SQLite, writers begin with BEGIN IMMEDIATE; `read_only`
    engines begin deferred, so reads never wait for one another."""
    if url.startswith("sqlite"):
        if not read_only:
            # SQLite has one writer at a time. Writers of this process queue for the one
            # write connection in the pool, and each gets it the moment it is free; left
            # to SQLite's busy handler they would poll with sleeps of up to 100 ms.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
        path = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url, async_creator=sqlite_inline.connector(path, BUSY_TIMEOUT_SECONDS), **kwargs
        )
        _configure_sqlite(engine, begin="BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
        return engine
    # Connections kept open for the busiest moments: an overflow connection is closed
    # when returned, and opening one (TLS negotiation included) costs more than a turn.
    kwargs.setdefault("pool_size", 30)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    _ping_when_rested(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_when_rested(engine: AsyncEngine, idle_seconds: float) -> None:
    """pool_pre_ping for connections that rested: a server restart or a dropped connection
    is found before use, and a busy process (its connections back in use within
    `idle_seconds`) skips the ping. asyncpg's ping is three round trips (BEGIN, the ping,
    ROLLBACK) at every checkout: 6 of a turn's 26."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _rests(dbapi_connection, record) -> None:
        record.info["rests_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_rested(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("rests_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces the connection and tries again
            raise exc.DisconnectionError() from error


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    """WAL, foreign keys, and an explicit BEGIN.

    pysqlite's default deferred BEGIN lets two writers both read and then both try to
    upgrade to the write lock, and one fails with "database is locked". Writers take the
    lock at BEGIN IMMEDIATE instead and wait for it (see sqlite_inline); in WAL mode
    readers never block them.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if getattr(engine.sync_engine, CHECKPOINTS_ATTRIBUTE, False):
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA busy_timeout=0")  # waits happen in sqlite_inline, off the loop
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql(begin)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=SerialSession, expire_on_commit=False, autoflush=False)
