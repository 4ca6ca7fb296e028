"""Subscriptions hold their rights only as long as the stored account does."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

from api.accounts.events import ACCOUNTS_CHANNEL, AccountEvent
from api.accounts.security import Actor
from api.events.broker import Broker, SubscriberLagged
from api.graphql.context import Info

T = TypeVar("T")
log = logging.getLogger("practicum.subscriptions")

AccountListener = Callable[[AccountEvent], None]


class AccountWatch:
    """This process's one listener on the accounts channel (api/accounts/events.py): it
    calls the listeners registered for the event's user, without waiting on them."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._listeners: dict[uuid.UUID, set[AccountListener]] = defaultdict(set)
        self._task: asyncio.Task | None = None

    def listen(self, user_id: uuid.UUID, listener: AccountListener) -> Callable[[], None]:
        """Call `listener` on each event of `user_id` from now on; returns the way to stop."""
        self._start()
        self._listeners[user_id].add(listener)

        def stop() -> None:
            listeners = self._listeners.get(user_id)
            if listeners is not None:
                listeners.discard(listener)
                if not listeners:
                    del self._listeners[user_id]

        return stop

    def _start(self) -> None:
        if self._task is None or self._task.done():
            # Subscribed here, synchronously: no event published after `listen` is missed.
            subscription = self._broker.subscribe(ACCOUNTS_CHANNEL)
            self._task = asyncio.get_running_loop().create_task(self._run(subscription))

    async def _run(self, subscription) -> None:
        while True:
            try:
                async with subscription:
                    async for event in subscription:
                        self._dispatch(event)
            except SubscriberLagged:
                log.warning("account events lagged; listening again")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("account events listener failed; listening again")
                await asyncio.sleep(1)
            subscription = self._broker.subscribe(ACCOUNTS_CHANNEL)

    def _dispatch(self, event) -> None:
        if isinstance(event, dict):  # from a broker that carries JSON
            event = AccountEvent.from_json(event)
        for listener in list(self._listeners.get(event.user_id, ())):
            try:
                listener(event)
            except Exception:
                log.exception("an account event listener failed")


_watches: weakref.WeakKeyDictionary[Broker, AccountWatch] = weakref.WeakKeyDictionary()


def account_watch(broker: Broker) -> AccountWatch:
    """The process's AccountWatch on `broker`."""
    watch = _watches.get(broker)
    if watch is None:
        watch = _watches[broker] = AccountWatch(broker)
    return watch


async def while_allowed(
    info: Info,
    stream_for: Callable[[Actor], AsyncIterator[T]],
    recheck: Callable[[Actor], Awaitable[None]],
) -> AsyncIterator[T]:
    """The events `stream_for` yields for the acting user as stored now (the stream does
    its own first check). Before an event, when the last check is older than
    `subscription_recheck_seconds` or the account changed since (an account event: a new
    role, a login ended), the login (expiry, not ended), the account (active, role) and
    `recheck` run again: when any refuses, the subscription ends with that error. (A
    socket whose login has ended is closed at once: api/graphql/websocket.py.)"""
    context = info.context
    every = context.settings.subscription_recheck_seconds
    checked = time.monotonic()
    actor = await context.current_actor()

    def changed(_event: AccountEvent) -> None:
        nonlocal checked
        checked = -float("inf")

    stop = account_watch(context.runtime.broker).listen(actor.id, changed)
    try:
        stream = stream_for(actor)
        async with aclosing(stream):
            async for event in stream:
                if time.monotonic() - checked >= every:
                    await recheck(await context.current_actor())
                    checked = time.monotonic()
                yield event
    finally:
        stop()
