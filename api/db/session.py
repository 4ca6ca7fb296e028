"""An AsyncSession that concurrent GraphQL resolvers of one operation can share."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("practicum.db")
_AFTER_COMMIT = "practicum.after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once this transaction has committed; never if it rolls back.

    For work that must only see committed data, such as starting a reply's background
    task or telling subscribers about a stored message.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _taking_turns(name: str):
    method = getattr(AsyncSession, name)

    async def call(self: SerialSession, *args: Any, **kwargs: Any) -> Any:
        async with self.turn:
            return await method(self, *args, **kwargs)

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


class _Nested:
    """`begin_nested()` whose SAVEPOINT and RELEASE/ROLLBACK also wait for their turn."""

    def __init__(self, session: SerialSession) -> None:
        self.session = session
        self.transaction = AsyncSession.begin_nested(session)

    async def __aenter__(self) -> _Nested:
        async with self.session.turn:
            await self.transaction.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        async with self.session.turn:
            await self.transaction.__aexit__(*exc_info)


class SerialSession(AsyncSession):
    """GraphQL resolves sibling fields concurrently, and one AsyncSession (one connection,
    one transaction per operation) allows one statement at a time: calls take turns here.
    `scalars` and `stream_scalars` go through `execute`/`stream`, so they are covered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turn = asyncio.Lock()

    def begin_nested(self) -> _Nested:  # type: ignore[override]
        return _Nested(self)

    execute = _taking_turns("execute")
    scalar = _taking_turns("scalar")
    get = _taking_turns("get")
    get_one = _taking_turns("get_one")
    stream = _taking_turns("stream")
    refresh = _taking_turns("refresh")
    merge = _taking_turns("merge")
    delete = _taking_turns("delete")
    flush = _taking_turns("flush")
    run_sync = _taking_turns("run_sync")

    async def commit(self) -> None:
        async with self.turn:
            await AsyncSession.commit(self)
        for callback in self.info.pop(_AFTER_COMMIT, ()):
            try:
                callback()
            except Exception:  # the data is committed; one failed follow-up must not hide it
                log.exception("after-commit callback failed")

    async def rollback(self) -> None:
        self.info.pop(_AFTER_COMMIT, None)
        async with self.turn:
            await AsyncSession.rollback(self)

    async def close(self) -> None:
        self.info.pop(_AFTER_COMMIT, None)
        await AsyncSession.close(self)
