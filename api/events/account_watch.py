"""Each process listens once to the account events channel (api/accounts/events.py) and
wakes the live subscriptions of the account concerned (api/graphql/subscriptions.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

from api.accounts.events import ACCOUNTS_CHANNEL, AccountEvent
from api.events.broker import Broker

log = logging.getLogger("practicum.events")


class AccountWatch:
    """One listener per process on the account events channel, started with the first
    subscription; it sets the flags of that account's live subscriptions."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._flags: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._listener: asyncio.Task | None = None
        self._ready: asyncio.Event | None = None

    async def _start(self) -> None:
        if self._listener is None or self._listener.done():
            self._ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(), name="account-watch")
        await self._ready.wait()

    async def _listen(self) -> None:
        while True:
            try:
                async with self._broker.subscribe(ACCOUNTS_CHANNEL) as events:
                    self._ready.set()
                    async for event in events:
                        self._deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a lagged or broken subscription: listen again
                log.warning("account events listener restarting", exc_info=True)
                self._wake_everyone()  # what was missed may concern anyone
                await asyncio.sleep(0.5)

    def _deliver(self, event: object) -> None:
        if isinstance(event, dict):
            event = AccountEvent.from_json(event)
        if isinstance(event, AccountEvent):
            for flag in self._flags.get(event.user_id, ()):
                flag.set()

    def _wake_everyone(self) -> None:
        for flags in self._flags.values():
            for flag in flags:
                flag.set()

    @contextlib.asynccontextmanager
    async def watching(
        self, user_id: uuid.UUID, flag: asyncio.Event | None = None
    ) -> AsyncIterator[asyncio.Event]:
        """A flag (`flag`, or a new asyncio.Event) set whenever an account event about
        `user_id` arrives."""
        await self._start()
        flag = flag if flag is not None else asyncio.Event()
        self._flags[user_id].add(flag)
        try:
            yield flag
        finally:
            flags = self._flags.get(user_id)
            if flags is not None:
                flags.discard(flag)
                if not flags:
                    del self._flags[user_id]

    def watched(self) -> int:
        return sum(len(flags) for flags in self._flags.values())

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
