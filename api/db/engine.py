"""Engines and session factories for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.db import sqlite_inline
from api.db.session import SerialSession

BUSY_TIMEOUT_SECONDS = 30.0


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
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


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
        cursor.execute("PRAGMA busy_timeout=0")  # waits happen in sqlite_inline, off the loop
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql(begin)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=SerialSession, expire_on_commit=False, autoflush=False)
