"""The event broker across processes and machines, on Redis (chosen by REDIS_URL).

- Each event is encoded once, when it is published, and sent with one PUBLISH; this
  process's own subscribers get it at once, without the round trip.
- Each process holds one Redis pattern subscription for every channel, shared by all its
  subscribers (not one connection per websocket), decodes each event once, and only for
  channels someone here listens to.
- Publishing never waits: events queue in order and one writer sends them, pipelined, so
  the order of a channel's events is the order they were published in. The text so far of
  every reply streaming here is kept in Redis too (`reply_so_far`), written before the
  deltas it holds are published, so a late joiner on any process misses nothing.
- Redis unreachable at start: `start` raises `BrokerUnavailable`, which says so. Lost
  mid-run: unsent events stay queued and are sent once Redis answers again (logged), the
  subscription is taken again and subscribers that asked get `RESYNC` to re-read what
  they may have missed from the database, where every reply is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.conversations.events import (
    MessageCompleted,
    MessageDelta,
    MessageFailed,
)
from api.events import codec
from api.events.broker import Broker, BrokerUnavailable, InMemoryBroker, Subscription

log = logging.getLogger("practicum.broker")

MAX_UNSENT_EVENTS = 100_000  # while Redis is away; the oldest go first beyond this
BATCH_EVENTS = 500
RETRY_MIN_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 5.0
WARN_EVERY_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 60.0


@dataclass
class _Outgoing:
    channel: str  # the Redis channel
    payload: bytes
    touched: tuple[uuid.UUID, uuid.UUID] | None = None  # (session, message) whose text grew
    finished: tuple[uuid.UUID, uuid.UUID] | None = None  # (session, message) now stored


class RedisBroker(Broker):
    reaches_other_processes = True

    def __init__(
        self, url: str, *, prefix: str = "practicum:", snapshot_ttl_seconds: float = 600.0
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.snapshot_ttl = max(1, int(snapshot_ttl_seconds))
        self._events_prefix = f"{prefix}ev:"
        self._local = InMemoryBroker()
        self._origin = b""
        self._redis = self._connect()
        self._unsent: deque[_Outgoing] = deque()
        self._wake = asyncio.Event()
        # Replies streaming in this process: (session id -> (message id, text so far))
        self._texts: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
        self._touched_at: dict[uuid.UUID, float] = {}  # when each text last grew
        self._pruned_at = time.monotonic()
        self._tasks: list[asyncio.Task] = []
        self._subscribed = asyncio.Event()
        self.dropped = 0
        self.resyncs = 0

    def _connect(self) -> aioredis.Redis:
        """A client of this process's own, named (so that `CLIENT LIST` shows which processes
        share the events) by an id that also tells this process's own events apart. Made
        again in `start`: a runtime created before a server forks its workers (Reflex's
        do) must not share the id, or the workers would skip each other's events."""
        self._origin = secrets.token_hex(8).encode()
        return aioredis.Redis.from_url(
            self.url,
            client_name=f"{self.prefix}broker-{self._origin.decode()}",
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_keepalive=True,
            health_check_interval=30,
        )

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._redis = self._connect()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
                await self._redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(
                f"Redis at {_safe(self.url)} is unreachable ({type(exc).__name__}: {exc}). "
                "REDIS_URL is set, so every process shares live events through it: start "
                "Redis, or unset REDIS_URL to run a single process."
            ) from exc
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="broker-read"),
            asyncio.create_task(self._write_forever(), name="broker-write"),
        ]
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
                await self._subscribed.wait()
        except TimeoutError as exc:
            await self.aclose()
            raise BrokerUnavailable(f"could not subscribe to Redis at {_safe(self.url)}") from exc
        log.info("live events go through Redis at %s", _safe(self.url))

    async def aclose(self) -> None:
        # What is still unsent gets a moment (a reply's completion, say).
        if self._unsent and self._tasks:
            deadline = time.monotonic() + 2.0
            while self._unsent and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._redis.aclose()

    # -- the Broker interface ----------------------------------------------------------

    def publish(self, channel: str, event: object) -> None:
        self._local.publish(channel, event)
        try:
            payload = codec.encode(event)  # once, whatever the subscribers
        except Exception:
            log.exception("a %s cannot be sent to other processes", type(event).__name__)
            return
        outgoing = _Outgoing(self._events_prefix + channel, self._origin + b"|" + payload)
        if isinstance(event, MessageDelta):
            known = self._texts.get(event.session_id)
            text = known[1] if known is not None and known[0] == event.message_id else ""
            text = event.delta if event.reset else text[: event.offset] + event.delta
            self._texts[event.session_id] = (event.message_id, text)
            self._touched_at[event.session_id] = time.monotonic()
            outgoing.touched = (event.session_id, event.message_id)
        elif isinstance(event, MessageCompleted | MessageFailed):
            message = event.message
            known = self._texts.get(message.session_id)
            if known is not None and known[0] == message.id:
                del self._texts[message.session_id]
                self._touched_at.pop(message.session_id, None)
            outgoing.finished = (message.session_id, message.id)
        self._unsent.append(outgoing)
        if len(self._unsent) > MAX_UNSENT_EVENTS:
            self._unsent.popleft()
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("Redis unreachable: %d live events dropped so far", self.dropped)
        self._wake.set()

    def subscribe(self, channel: str, *, resync: bool = False) -> Subscription:
        return self._local.subscribe(channel, resync=resync)

    async def reply_so_far(self, session_id: uuid.UUID) -> MessageDelta | None:
        known = self._texts.get(session_id)
        if known is not None:
            return MessageDelta(session_id, known[0], 0, known[1], reset=True)
        try:
            stored = await self._redis.get(self._snapshot_key(session_id))
        except (RedisError, OSError) as exc:
            log.warning("Redis unreachable: no text so far for a late joiner (%s)", exc)
            return None
        if stored is None:
            return None
        message_id, _, text = stored.decode().partition("|")
        return MessageDelta(session_id, uuid.UUID(message_id), 0, text, reset=True)

    def forget_reply(self, session_id: uuid.UUID, message_id: uuid.UUID) -> None:
        known = self._texts.get(session_id)
        if known is not None and known[0] == message_id:
            del self._texts[session_id]
            self._touched_at.pop(session_id, None)

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        try:
            claimed = await self._redis.set(
                f"{self.prefix}claim:{key}", b"1", nx=True, ex=max(1, int(ttl_seconds))
            )
        except (RedisError, OSError) as exc:
            # Redis away: other processes do not hear this event either, so it is ours.
            log.warning("Redis unreachable: %s handled here (%s)", key, exc)
            return True
        return bool(claimed)

    # -- the writer --------------------------------------------------------------------

    def _snapshot_key(self, session_id: uuid.UUID) -> str:
        return f"{self.prefix}reply:{session_id}"

    async def _write_forever(self) -> None:
        failing_since: float | None = None
        last_warning = 0.0
        delay = RETRY_MIN_SECONDS
        while True:
            if not self._unsent:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._unsent[i] for i in range(min(BATCH_EVENTS, len(self._unsent)))]
            try:
                await self._send(batch)
            except (RedisError, OSError) as exc:
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                if now - last_warning >= WARN_EVERY_SECONDS:
                    last_warning = now
                    log.error(
                        "Redis unreachable: %d live events wait to be published, retrying (%s)",
                        len(self._unsent),
                        exc,
                    )
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)
                continue
            for item in batch:  # (unless dropped meanwhile, past MAX_UNSENT_EVENTS)
                if self._unsent and self._unsent[0] is item:
                    self._unsent.popleft()
            self._prune()
            if failing_since is not None:
                log.warning(
                    "Redis answers again: live events published after %.1f s",
                    time.monotonic() - failing_since,
                )
                failing_since = None
                delay = RETRY_MIN_SECONDS

    def _prune(self) -> None:
        """Forget the texts of replies that stopped growing long ago without an outcome
        published here (their process died, another one recorded them)."""
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        for session_id, at in list(self._touched_at.items()):
            if now - at > self.snapshot_ttl:
                del self._touched_at[session_id]
                self._texts.pop(session_id, None)

    async def _send(self, batch: list[_Outgoing]) -> None:
        """Snapshots first (whole texts: idempotent, right even after Redis lost them), then
        the events in order, then the snapshots of replies now stored are dropped."""
        pipe = self._redis.pipeline(transaction=False)
        touched: set[uuid.UUID] = set()
        for item in batch:
            if item.touched is not None:
                touched.add(item.touched[0])
        for session_id in touched:
            known = self._texts.get(session_id)
            if known is not None:
                value = f"{known[0]}|{known[1]}".encode()
                pipe.set(self._snapshot_key(session_id), value, ex=self.snapshot_ttl)
        for item in batch:
            pipe.publish(item.channel, item.payload)
        for item in batch:
            if item.finished is not None and item.finished[0] not in self._texts:
                pipe.delete(self._snapshot_key(item.finished[0]))
        await pipe.execute()

    # -- the reader --------------------------------------------------------------------

    async def _read_forever(self) -> None:
        pattern = self._events_prefix + "*"
        skip = len(self._events_prefix)
        origin = self._origin + b"|"
        lost_since: float | None = None
        delay = RETRY_MIN_SECONDS
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                while True:  # the confirmation: from here on, nothing is missed
                    message = await pubsub.get_message(timeout=CONNECT_TIMEOUT_SECONDS)
                    if message is not None and message["type"] == "psubscribe":
                        break
                self._subscribed.set()
                if lost_since is not None:
                    self.resyncs += 1
                    log.warning(
                        "Redis answers again: live events flow again after %.1f s; "
                        "subscribers re-read what they missed",
                        time.monotonic() - lost_since,
                    )
                    self._local.resync_all()
                    lost_since = None
                    delay = RETRY_MIN_SECONDS
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message["type"] != "pmessage":
                        continue
                    data: bytes = message["data"]
                    if data.startswith(origin):
                        continue  # ours: delivered locally already
                    channel = message["channel"][skip:].decode()
                    if not self._local.has_subscribers(channel):
                        continue
                    try:
                        event = codec.decode(data[data.index(b"|") + 1 :])
                    except (codec.UndecodableEvent, ValueError) as exc:
                        log.error("dropped a live event that cannot be read: %s", exc)
                        continue
                    self._local.publish(channel, event)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if lost_since is None:
                    lost_since = time.monotonic()
                    log.error("lost Redis, live events from other processes paused: %s", exc)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_SECONDS, delay * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest
