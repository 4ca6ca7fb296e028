"""An AsyncSession that concurrent GraphQL resolvers of one operation can share."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction

log = logging.getLogger("practicum.db")
_AFTER_COMMIT = "practicum.after_commit"
_UNLESS_COMMITTED = "practicum.unless_committed"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once this transaction has committed; never if it rolls back.

    For work that must only see committed data, such as starting a reply's background
    task or telling subscribers about a stored message.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def unless_committed(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` if this transaction ends without committing (rolled back, failed to
    commit, or the session closed first); never once it has committed."""
    session.info.setdefault(_UNLESS_COMMITTED, []).append(callback)


def _run(callbacks, what: str) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # one failed follow-up must not hide the others
            log.exception("%s callback failed", what)


class _Turns:
    """An asyncio.Lock the task holding it may take again: AsyncSession's methods call one
    another (`scalars` calls `execute`), and which calls which is SQLAlchemy's business."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task | None = None
        self._depth = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._holder is not task:
            await self._lock.acquire()
            self._holder = task
        self._depth += 1

    async def __aexit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if not self._depth:
            self._holder = None
            self._lock.release()


def _in_turn(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: SerialSession, *args: Any, **kwargs: Any) -> Any:
        async with self.turn:
            return await method(self, *args, **kwargs)

    return call


class _InTurn:
    """`begin()` or `begin_nested()`, whose BEGIN/SAVEPOINT and COMMIT/RELEASE/ROLLBACK
    also wait for their turn."""

    def __init__(self, session: SerialSession, transaction: AsyncSessionTransaction) -> None:
        self.session = session
        self.transaction = transaction

    async def __aenter__(self) -> _InTurn:
        async with self.session.turn:
            await self.transaction.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        async with self.session.turn:
            await self.transaction.__aexit__(*exc_info)


class _TakingTurns(AsyncSession):
    """AsyncSession whose every awaitable method waits for the session's turn."""


for _name, _method in vars(AsyncSession).items():
    if not _name.startswith("_") and inspect.iscoroutinefunction(_method):
        setattr(_TakingTurns, _name, _in_turn(_method))


class SerialSession(_TakingTurns):
    """GraphQL resolves sibling fields concurrently, and they share one AsyncSession (one
    connection, one transaction per operation), which allows one call at a time.

    SQLAlchemy has no public way to share a session between tasks (its advice is a session
    per task), so every awaitable method takes turns on one lock, found by introspection
    rather than listed, so that a method SQLAlchemy adds is covered too; the rest of
    AsyncSession (add, expunge...) does no I/O. tests/unit/test_db_session.py fails when
    a call on a shared session escapes the lock (run it on a SQLAlchemy upgrade).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn = _Turns()

    def begin(self) -> _InTurn:  # type: ignore[override]
        return _InTurn(self, AsyncSession.begin(self))

    def begin_nested(self) -> _InTurn:  # type: ignore[override]
        return _InTurn(self, AsyncSession.begin_nested(self))

    async def commit(self) -> None:
        await super().commit()
        self.info.pop(_UNLESS_COMMITTED, None)
        _run(self.info.pop(_AFTER_COMMIT, ()), "after-commit")

    async def rollback(self) -> None:
        self._not_committed()
        await super().rollback()

    async def close(self) -> None:
        self._not_committed()
        await super().close()

    def _not_committed(self) -> None:
        self.info.pop(_AFTER_COMMIT, None)
        _run(self.info.pop(_UNLESS_COMMITTED, ()), "unless-committed")
