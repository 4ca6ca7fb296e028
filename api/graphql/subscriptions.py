"""Subscriptions hold their rights only as long as the stored account does.

Two ways a subscription learns that its account changed:

- periodically: before an event, when the last check is older than
  `subscription_recheck_seconds`, the login and the account are read again (a check is
  shared by the subscriptions of one login that ask the same question: a class watching
  one session on 1,000 sockets reads the account once, not 1,000 times before an event);
- at once: an account event (api/accounts/events.py: signed out, deactivated, erased, a new
  role, a revoked API key) published on the broker wakes every live subscription of that
  account in every process (api/events/account_watch.py), which checks again straight
  away, even when its own stream is quiet.

When a check refuses, the subscription ends with that error (UNAUTHENTICATED, FORBIDDEN).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TypeVar

from api.accounts.security import Actor
from api.errors import PracticumError
from api.events.broker import Forward
from api.graphql.context import Info
from api.runtime import Runtime

T = TypeVar("T")
log = logging.getLogger("practicum.subscriptions")


async def while_allowed(
    info: Info,
    stream_for: Callable[[Actor], AsyncIterator[T]],
    recheck: Callable[[Actor], Awaitable[None]],
    *,
    shared_as: Hashable | None = None,
    forward: Forward | None = None,
) -> AsyncIterator[T]:
    """The events `stream_for` yields for the acting user as stored now (the stream does
    its own first check). The login (expiry, sign-out), the account (active, role) and
    `recheck` run again before an event when the last check is older than
    `subscription_recheck_seconds`, and at once when an account event about the user
    arrives: when any refuses, the subscription ends with that error. Subscriptions of one
    login with the same `shared_as` (what `recheck` asks) share their periodic checks.
    With `forward`, `stream_for(actor, forward)` may hand events to it instead of yielding
    them, as long as no check is due."""
    context = info.context
    every = context.settings.subscription_recheck_seconds
    actor = await context.current_actor()
    guard = _AccountGuard(info, recheck, asyncio.current_task())
    async with context.runtime.account_watch.watching(actor.id, guard.changed):
        checked = time.monotonic()

        def unless_checks_due(event: T) -> bool | Awaitable[object]:
            if time.monotonic() - checked >= every or guard.refused:
                return False
            return forward(event)

        stream = stream_for(actor) if forward is None else stream_for(actor, unless_checks_due)
        try:
            async with aclosing(stream):
                async for event in stream:
                    if time.monotonic() - checked >= every:
                        if shared_as is None:
                            await recheck(await context.current_actor())
                            checked = time.monotonic()
                        else:
                            checked = await _shared_checks.check(info, shared_as, recheck, every)
                    yield event
        except asyncio.CancelledError:
            guard.raise_refusal()  # the account's rights ended while the stream waited
            raise
        finally:
            await guard.aclose()


class _Changed(asyncio.Event):
    """The account watch's flag for one subscription: setting it runs `on_set`."""

    def __init__(self, on_set: Callable[[], None]) -> None:
        super().__init__()
        self._on_set = on_set

    def set(self) -> None:
        super().set()
        self._on_set()


class _AccountGuard:
    """Checks a subscription's account again when an account event about it arrives, in a
    task of its own: the subscription itself is waiting on its stream. When the check
    refuses, the subscription's task is cancelled and the cancellation becomes that error
    (`raise_refusal`). Nothing is added to the path of the subscription's events."""

    def __init__(self, info: Info, recheck, task: asyncio.Task | None) -> None:
        self._info, self._recheck, self._task = info, recheck, task
        self._checks: set[asyncio.Task] = set()
        self._refusal: Exception | None = None
        self.changed = _Changed(self._check_soon)

    def _check_soon(self) -> None:
        self.changed.clear()
        if self._task is None or self._refusal is not None:
            return
        check = asyncio.create_task(self._check())
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def _check(self) -> None:
        try:
            await self._recheck(await self._info.context.current_actor())
        except PracticumError as refused:
            if self._refusal is None:
                self._refusal = refused
                self._task.cancel()
        except Exception:
            log.warning("could not check a subscription's account again", exc_info=True)

    @property
    def refused(self) -> bool:
        return self._refusal is not None

    def raise_refusal(self) -> None:
        if self._refusal is not None and self._task is not None and self._task.cancelling():
            self._task.uncancel()
            raise self._refusal

    async def aclose(self) -> None:
        for check in list(self._checks):
            check.cancel()
        for check in list(self._checks):
            with contextlib.suppress(asyncio.CancelledError):
                await check


@dataclass
class _Check:
    runtime: Runtime
    started: float  # monotonic
    outcome: asyncio.Task


class _SharedChecks:
    """Periodic checks shared by the subscriptions of one login asking the same question.
    A check started less than `every` seconds ago stands for all of them (as one of their
    own would have); a refusal ends every subscription that shares it."""

    def __init__(self) -> None:
        self._checks: dict[tuple, _Check] = {}
        self._pruned = 0.0

    async def check(
        self, info: Info, asked: Hashable, recheck: Callable[[Actor], Awaitable[None]], every: float
    ) -> float:
        """When the check that now stands for this subscription started, once it passed."""
        context = info.context
        runtime = context.runtime
        key = (id(runtime), context.login_key(), asked)
        now = time.monotonic()
        found = self._checks.get(key)
        if found is None or found.runtime is not runtime or now - found.started >= every:
            outcome = asyncio.create_task(_check_now(info, recheck))
            outcome.add_done_callback(_retrieved)
            found = self._checks[key] = _Check(runtime, now, outcome)
            self._prune(now, every)
        await asyncio.shield(found.outcome)  # one subscription leaving stops no other's check
        return found.started

    def _prune(self, now: float, every: float) -> None:
        if now - self._pruned < every:
            return
        self._pruned = now
        for key, check in list(self._checks.items()):
            if now - check.started >= every:
                del self._checks[key]


async def _check_now(info: Info, recheck: Callable[[Actor], Awaitable[None]]) -> None:
    await recheck(await info.context.current_actor())


def _retrieved(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()  # awaited by the subscriptions sharing it, when any are left


_shared_checks = _SharedChecks()
