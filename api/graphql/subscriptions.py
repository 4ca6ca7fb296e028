"""Subscriptions hold their rights only as long as the stored account does."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

from api.accounts.security import Actor
from api.graphql.context import Info

T = TypeVar("T")


async def while_allowed(
    info: Info,
    stream_for: Callable[[Actor], AsyncIterator[T]],
    recheck: Callable[[Actor], Awaitable[None]],
) -> AsyncIterator[T]:
    """The events `stream_for` yields for the acting user as stored now (the stream does
    its own first check). Before an event, when the last check is older than
    `subscription_recheck_seconds`, the login (expiry), the account (active, role) and
    `recheck` run again: when any refuses, the subscription ends with that error."""
    context = info.context
    every = context.settings.subscription_recheck_seconds
    checked = time.monotonic()
    stream = stream_for(await context.current_actor())
    async with aclosing(stream):
        async for event in stream:
            if time.monotonic() - checked >= every:
                await recheck(await context.current_actor())
                checked = time.monotonic()
            yield event
