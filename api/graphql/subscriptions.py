"""Subscriptions hold their rights only as long as the stored account does.

Two ways a subscription learns that its account changed:

- periodically: before an event, when the last check is older than
  `subscription_recheck_seconds`, the login and the account are read again;
- at once: an account event (api/accounts/events.py: signed out, deactivated, erased, a new
  role, a revoked API key) published on the broker wakes every live subscription of that
  account in every process (api/events/account_watch.py), which checks again straight
  away, even when its own stream is quiet.

When a check refuses, the subscription ends with that error (UNAUTHENTICATED, FORBIDDEN).
"""

from __future__ import annotations

import asyncio
import contextlib
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
    its own first check). The login (expiry, sign-out), the account (active, role) and
    `recheck` run again before an event when the last check is older than
    `subscription_recheck_seconds`, and at once when an account event about the user
    arrives: when any refuses, the subscription ends with that error."""
    context = info.context
    every = context.settings.subscription_recheck_seconds
    actor = await context.current_actor()
    async with context.runtime.account_watch.watching(actor.id) as changed:
        checked = time.monotonic()
        stream = stream_for(actor)
        async with aclosing(stream):
            async for event in _until_changed(stream, changed, lambda: _check_now(info, recheck)):
                if time.monotonic() - checked >= every:
                    await recheck(await context.current_actor())
                    checked = time.monotonic()
                yield event


async def _check_now(info: Info, recheck: Callable[[Actor], Awaitable[None]]) -> None:
    await recheck(await info.context.current_actor())


async def _until_changed(
    stream: AsyncIterator[T], changed: asyncio.Event, check: Callable[[], Awaitable[None]]
) -> AsyncIterator[T]:
    """`stream`'s events; whenever `changed` is set, `check` runs at once (its error ends
    the iteration), even while the stream is waiting for its next event."""
    iterator = aiter(stream)
    loop = asyncio.get_running_loop()
    flag_waiter: asyncio.Task | None = None
    next_event: asyncio.Future | None = None
    try:
        while True:
            if changed.is_set():
                changed.clear()
                await check()
            if next_event is None:
                next_event = asyncio.ensure_future(anext(iterator))
            if flag_waiter is None:
                flag_waiter = loop.create_task(changed.wait())
            await asyncio.wait((next_event, flag_waiter), return_when=asyncio.FIRST_COMPLETED)
            if flag_waiter.done():
                flag_waiter = None
                continue  # check, then keep waiting for the same next event
            try:
                event = next_event.result()
            except StopAsyncIteration:
                return
            finally:
                next_event = None
            yield event
    finally:
        for task in (next_event, flag_waiter):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await task
