"""An AsyncSession that concurrent GraphQL resolvers of one operation can share."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


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
    commit = _taking_turns("commit")
    rollback = _taking_turns("rollback")
    run_sync = _taking_turns("run_sync")
