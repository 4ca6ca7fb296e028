"""Publish/subscribe of live events (reply deltas, completions, metrics) by channel.

`publish` never blocks the publisher: a turn must not wait for slow subscribers. The
in-process broker serves one API process (the embedded default); the Redis broker
(api/events/redis_broker.py, chosen by REDIS_URL) implements the same interface so that
any number of processes and machines share channels.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import uuid

    from api.conversations.events import MessageDelta

log = logging.getLogger("practicum.events")

MAX_QUEUED_EVENTS = 10_000
MAX_LOCAL_CLAIMS = 10_000


class SubscriberLagged(Exception):
    """The subscriber fell so far behind that events were dropped; it should resubscribe."""


class BrokerUnavailable(RuntimeError):
    """The broker's store (Redis) cannot be reached at start."""


class _Resync:
    """Delivered (to subscriptions that asked, `subscribe(channel, resync=True)`) when events
    of the channel may have been missed: the broker lost its connection and has it back.
    The subscriber re-reads what it shows from the database, the truth."""

    def __repr__(self) -> str:
        return "RESYNC"


RESYNC = _Resync()


class Subscription(ABC):
    """Events of one channel in publishing order; use as an async context manager."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Any]: ...

    @abstractmethod
    async def close(self) -> None: ...

    def hand_over(self, forward: Forward) -> None:  # noqa: B027 - optional
        """While the consumer waits, with nothing queued, give each event to `forward`
        first, in the publisher's call: True when it passed the event on itself, an
        awaitable while it is still doing so (the consumer waits for it before the next
        event), False when the consumer should have the event after all. A reply watched
        by 1,000 sockets then reaches them without waking 1,000 tasks."""

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Broker(ABC):
    @abstractmethod
    def publish(self, channel: str, event: Any) -> None:
        """Deliver `event` to the channel's current subscribers, without waiting."""

    @abstractmethod
    def subscribe(self, channel: str, *, resync: bool = False) -> Subscription:
        """Start receiving the channel's events. Events published after this call returns
        are all delivered, so a snapshot taken right after it misses nothing. With `resync`,
        the subscription also gets `RESYNC` after a gap in delivery (see `_Resync`)."""

    reaches_other_processes = False
    """Whether events published here reach subscribers in other processes."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect; raise with a clear message when the broker cannot be reached."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def reply_so_far(self, session_id: uuid.UUID) -> MessageDelta | None:
        """The text so far of a reply streaming in another process (None when unknown).
        Replies streaming in this process are asked of the reply engine."""
        return None

    def forget_reply(self, session_id: uuid.UUID, message_id: uuid.UUID) -> None:  # noqa: B027
        """Drop what this process keeps of a reply's text so far: another process ended
        the reply (this one's outcome came second)."""

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """True once per key across every process sharing the broker (for `ttl_seconds`):
        who sends a cost alert to the log and the webhook."""
        return True


Forward = Callable[[Any], "bool | Awaitable[Any]"]


class _LocalSubscription(Subscription):
    """The events delivered and not yet taken, in order, and the consumer's wake-up: a
    reply watched by 1,000 sockets delivers each event 1,000 times, so this is kept
    leaner than an asyncio.Queue."""

    def __init__(self, broker: InMemoryBroker, channel: str, resync: bool = False) -> None:
        self.broker = broker
        self.channel = channel
        self.resync = resync
        self.queued: deque[Any] = deque()
        self._waiting: asyncio.Future | None = None
        self._forward: Forward | None = None
        self._forwarding: Awaitable[Any] | None = None
        self.lagged = False

    def hand_over(self, forward: Forward) -> None:
        self._forward = forward

    def deliver(self, event: Any) -> None:
        if self._forward is not None and self._consumer_waits():
            try:
                forwarded = self._forward(event)
            except Exception:
                log.exception("an event could not be handed over; the subscriber gets it")
                forwarded = False
            if forwarded is True:
                return
            if forwarded is not False:
                self._forwarding = asyncio.ensure_future(forwarded)
                return
        if len(self.queued) >= MAX_QUEUED_EVENTS:
            self.lagged = True
            return
        self.queued.append(event)
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def _consumer_waits(self) -> bool:
        """Nothing queued, nothing being forwarded, and the consumer waits for an event."""
        if self._forwarding is not None:
            if not self._forwarding.done():
                return False
            self._forwarding = None
        waiting = self._waiting
        return not self.queued and waiting is not None and not waiting.done()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while True:
            if self.queued:
                if self._forwarding is not None:  # the events forwarded go first
                    await asyncio.wait([self._forwarding])
                    self._forwarding = None
                yield self.queued.popleft()
                continue
            if self.lagged:
                raise SubscriberLagged(self.channel)
            self._waiting = asyncio.get_running_loop().create_future()
            try:
                await self._waiting
            finally:
                self._waiting = None

    async def close(self) -> None:
        self.broker._remove(self)


class InMemoryBroker(Broker):
    """Channels within one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_LocalSubscription]] = defaultdict(set)
        self._claimed: dict[str, None] = {}  # oldest first

    def publish(self, channel: str, event: Any) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(event)

    def backlogged(self, channel: str) -> bool:
        """Whether a subscriber of the channel has not yet taken every event delivered."""
        return any(s.queued for s in self._subscribers.get(channel, ()))

    def subscribe(self, channel: str, *, resync: bool = False) -> Subscription:
        subscription = _LocalSubscription(self, channel, resync)
        self._subscribers[channel].add(subscription)
        return subscription

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        if key in self._claimed:
            return False
        self._claimed[key] = None
        while len(self._claimed) > MAX_LOCAL_CLAIMS:
            del self._claimed[next(iter(self._claimed))]
        return True

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._subscribers

    def resync_all(self) -> None:
        """Tell every subscription that asked for it that events may have been missed."""
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                if subscription.resync:
                    subscription.deliver(RESYNC)

    def _remove(self, subscription: _LocalSubscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.channel]


class Mergeable(Protocol):
    """An event that may absorb the next one of its channel (more of the same text)."""

    def merged_with(self, later: Any) -> Any | None:
        """One event saying what both say, or None when they cannot be merged."""


class MergingBroker(Broker):
    """Fans out fewer, larger events: a Mergeable event published within `window`
    seconds of the channel's last delivery waits until the window ends, merged with the
    ones that follow it. The first of a burst goes at once (a reply's first word is
    never held back); any other event delivers what waits first, so order is kept.

    A reply streams ~200 deltas a second; every delivery costs each subscriber a websocket
    frame (sent in the publisher's call to subscribers that wait, `hand_over`). Merging
    within 25 ms of the end of the last delivery, or as long as it took when longer (1,000
    sockets: tens of ms), sends at most 40 a second per reply, a few tokens each, and all
    subscribers of a channel get the same event object (see
    api/graphql/shared_events.py). When the inner broker says subscribers have not yet
    taken the last delivery (a channel watched by hundreds), the text keeps merging, up
    to `MAX_HOLD_SECONDS`: a backlog never grows beyond about one event each."""

    MAX_HOLD_SECONDS = 0.25

    def __init__(self, inner: Broker, window: float) -> None:
        self.inner = inner
        self.window = window
        self._next: dict[str, float] = {}  # channel -> when it may deliver text again
        # channel -> the merged event, its timer, since when it waits
        self._waiting: dict[str, tuple[Any, asyncio.TimerHandle, float]] = {}

    def publish(self, channel: str, event: Any) -> None:
        waiting = self._waiting.get(channel)
        if waiting is not None:
            merged = waiting[0].merged_with(event)
            if merged is not None:
                self._waiting[channel] = (merged, *waiting[1:])
                return
            self._flush(channel)
        now = time.monotonic()
        if self.window > 0 and hasattr(event, "merged_with"):  # Mergeable
            due = self._next.get(channel, 0.0)
            if now < due:
                timer = asyncio.get_running_loop().call_later(due - now, self._due, channel)
                self._waiting[channel] = (event, timer, now)
                return
            self._deliver(channel, event)
        else:
            self._next.pop(channel, None)
            self.inner.publish(channel, event)

    def _deliver(self, channel: str, event: Any) -> None:
        """Publish, and hold the channel's next text for the window after the delivery
        ends, or as long as the delivery took if longer (sockets handed an event in the
        publisher's call, 1,000 of them, take tens of ms): delivering keeps to about half
        of the loop's time, whatever the audience."""
        started = time.monotonic()
        self.inner.publish(channel, event)
        ended = time.monotonic()
        self._next[channel] = ended + max(self.window, ended - started)

    def _due(self, channel: str) -> None:
        event, _, since = self._waiting[channel]
        backlogged = getattr(self.inner, "backlogged", None)
        if backlogged is not None and time.monotonic() - since < self.MAX_HOLD_SECONDS:
            if backlogged(channel):
                timer = asyncio.get_running_loop().call_later(self.window, self._due, channel)
                self._waiting[channel] = (event, timer, since)
                return
        self._flush(channel)

    def _flush(self, channel: str) -> None:
        event, timer, _ = self._waiting.pop(channel)
        timer.cancel()
        self._deliver(channel, event)

    def subscribe(self, channel: str, *, resync: bool = False) -> Subscription:
        return self.inner.subscribe(channel, resync=resync)

    @property
    def reaches_other_processes(self) -> bool:
        return self.inner.reaches_other_processes

    async def start(self) -> None:
        await self.inner.start()

    async def reply_so_far(self, session_id: uuid.UUID) -> MessageDelta | None:
        return await self.inner.reply_so_far(session_id)

    def forget_reply(self, session_id: uuid.UUID, message_id: uuid.UUID) -> None:
        self.inner.forget_reply(session_id, message_id)

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        return await self.inner.claim(key, ttl_seconds)

    def __getattr__(self, name: str) -> Any:
        # the inner broker's own extras (has_subscribers, resync_all, ...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def aclose(self) -> None:
        for channel in list(self._waiting):
            self._flush(channel)
        await self.inner.aclose()
