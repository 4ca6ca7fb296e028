"""Publish/subscribe of live events (reply deltas, completions, metrics) by channel.

`publish` never blocks the publisher: a turn must not wait for slow subscribers. The
in-process broker serves one API process; a Redis broker implementing the same interface
lets any number of replicas share channels.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

MAX_QUEUED_EVENTS = 10_000


class SubscriberLagged(Exception):
    """The subscriber fell so far behind that events were dropped; it should resubscribe."""


class Subscription(ABC):
    """Events of one channel in publishing order; use as an async context manager."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Any]: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Broker(ABC):
    @abstractmethod
    def publish(self, channel: str, event: Any) -> None:
        """Deliver `event` to the channel's current subscribers, without waiting."""

    @abstractmethod
    def subscribe(self, channel: str) -> Subscription:
        """Start receiving the channel's events. Events published after this call returns
        are all delivered, so a snapshot taken right after it misses nothing."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class _LocalSubscription(Subscription):
    def __init__(self, broker: InMemoryBroker, channel: str) -> None:
        self.broker = broker
        self.channel = channel
        self.queue: asyncio.Queue[Any] = asyncio.Queue(MAX_QUEUED_EVENTS)
        self.lagged = False

    def deliver(self, event: Any) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            if self.lagged and self.queue.empty():
                raise SubscriberLagged(self.channel)
            yield await self.queue.get()

    async def close(self) -> None:
        self.broker._remove(self)


class InMemoryBroker(Broker):
    """Channels within one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_LocalSubscription]] = defaultdict(set)

    def publish(self, channel: str, event: Any) -> None:
        for subscription in self._subscribers.get(channel, ()):
            subscription.deliver(event)

    def subscribe(self, channel: str) -> Subscription:
        subscription = _LocalSubscription(self, channel)
        self._subscribers[channel].add(subscription)
        return subscription

    def _remove(self, subscription: _LocalSubscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]
