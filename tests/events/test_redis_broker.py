"""The Redis broker as two processes see it: two brokers on one Redis (each with its own
connections, as two processes have), the Redis at 127.0.0.1:6379 (PRACTICUM_TEST_REDIS)
under a key prefix of the test's own, or a private `redis-server` on a free loopback port
that the test stops and starts again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from api.conversations.events import MessageCompleted, MessageDelta, session_channel
from api.conversations.models import Message, MessageRole, MessageStatus, Session, SessionStatus
from api.events.broker import RESYNC
from api.events.redis_broker import BrokerUnavailable, RedisBroker
from tests.conftest import skip_or_fail
from tests.factories.budgets import until
from tests.limits.conftest import REDIS_URL, _redis_prefix
from tests.transport.conftest import free_port

WAIT = 5.0


@asynccontextmanager
async def two_processes(url: str, prefix: str) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    a, b = RedisBroker(url, prefix=prefix), RedisBroker(url, prefix=prefix)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


@pytest.fixture
async def brokers() -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    async with _redis_prefix() as prefix, two_processes(REDIS_URL, prefix + ":") as pair:
        yield pair


def completed(session_id: uuid.UUID, message_id: uuid.UUID, text: str) -> MessageCompleted:
    now = datetime.now(UTC)
    message = Message(
        id=message_id,
        session_id=session_id,
        sequence_number=2,
        role=MessageRole.ASSISTANT,
        content=text,
        status=MessageStatus.COMPLETE,
        token_count=7,
        is_fallback=False,
        created_at=now,
    )
    session = Session(
        id=session_id,
        status=SessionStatus.ACTIVE,
        model="claude-haiku-4-5",
        message_count=2,
        input_tokens=10,
        output_tokens=7,
        cache_write_tokens=0,
        cache_read_tokens=0,
        estimated_cost=Decimal("0.000045"),
        started_at=now,
    )
    return MessageCompleted(message, session)


async def take(subscription, count: int) -> list:
    events = []
    async with asyncio.timeout(WAIT):
        async for event in subscription:
            events.append(event)
            if len(events) == count:
                return events
    return events


async def test_a_reply_streamed_on_one_process_reaches_the_other_in_order(brokers):
    a, b = brokers
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    channel = session_channel(session_id)
    words = [f"word{i} " for i in range(200)]
    async with b.subscribe(channel) as on_b, a.subscribe(channel) as on_a:
        offset = 0
        for word in words:
            a.publish(channel, MessageDelta(session_id, message_id, offset, word))
            offset += len(word)
        a.publish(channel, completed(session_id, message_id, "".join(words)))
        seen_b, seen_a = await take(on_b, 201), await take(on_a, 201)

    for seen in (seen_a, seen_b):
        assert [e.delta for e in seen[:-1]] == words
        assert [e.offset for e in seen[:-1]] == [sum(map(len, words[:i])) for i in range(200)]
    done = seen_b[-1]
    assert isinstance(done, MessageCompleted)  # rebuilt on B from what A sent
    assert done.message.id == message_id and done.message.content == "".join(words)
    assert done.message.status is MessageStatus.COMPLETE
    assert done.session.estimated_cost == Decimal("0.000045")
    assert done.session.total_tokens == 17
    assert done.message.created_at.tzinfo is not None


async def test_the_other_process_knows_the_text_so_far_until_the_reply_is_stored(brokers):
    a, b = brokers
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    channel = session_channel(session_id)
    async with a.subscribe(channel) as on_a:
        a.publish(channel, MessageDelta(session_id, message_id, 0, "I've been "))
        a.publish(channel, MessageDelta(session_id, message_id, 10, "sleeping badly — ça va"))
        await take(on_a, 2)
        snapshot = await text_so_far(b, session_id, "I've been sleeping badly — ça va")
        assert (snapshot.message_id, snapshot.offset, snapshot.reset) == (message_id, 0, True)
        # A failed attempt starts over: the text so far starts over with it
        a.publish(channel, MessageDelta(session_id, message_id, 0, "Well", reset=True))
        await text_so_far(b, session_id, "Well")
        a.publish(channel, completed(session_id, message_id, "Well"))
        await until(lambda: _none(b.reply_so_far(session_id)), seconds=WAIT)


async def test_a_process_whose_reply_was_ended_elsewhere_forgets_its_stale_text(brokers):
    """A stalled on a reply, B took it over and the student retried it on B: a late joiner
    on A gets B's text so far, not what A had streamed before it stalled."""
    a, b = brokers
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    channel = session_channel(session_id)
    a.publish(channel, MessageDelta(session_id, message_id, 0, "Before the stall"))
    await text_so_far(b, session_id, "Before the stall")  # in Redis
    b.publish(channel, MessageDelta(session_id, message_id, 0, "Retried", reset=True))
    await text_so_far(b, session_id, "Retried")
    a.forget_reply(session_id, uuid.uuid4())  # another reply: kept
    assert (await a.reply_so_far(session_id)).delta == "Before the stall"
    a.forget_reply(session_id, message_id)  # A's outcome came second
    await text_so_far(a, session_id, "Retried")


async def text_so_far(broker: RedisBroker, session_id: uuid.UUID, text: str) -> MessageDelta:
    async def matches() -> MessageDelta | None:
        snapshot = await broker.reply_so_far(session_id)
        return snapshot if snapshot is not None and snapshot.delta == text else None

    return await until(matches, seconds=WAIT)


async def _none(awaitable) -> bool:
    return await awaitable is None


async def test_an_alert_is_claimed_by_one_process_only(brokers):
    a, b = brokers
    key = f"alert:{uuid.uuid4()}"
    claims = await asyncio.gather(*(broker.claim(key, 60) for broker in (a, b, a, b)))
    assert sorted(claims) == [False, False, False, True]


async def test_redis_unreachable_at_start_is_a_clear_error():
    port = free_port()  # nothing listens there
    broker = RedisBroker(f"redis://:hunter2-secret@127.0.0.1:{port}/0")
    with pytest.raises(BrokerUnavailable) as refused:
        await broker.start()
    await broker.aclose()
    message = str(refused.value)
    assert f"127.0.0.1:{port}" in message and "unreachable" in message
    assert "REDIS_URL" in message
    assert "hunter2" not in message  # no password in what is printed


@contextmanager
def private_redis(port: int, data: Path) -> Iterator[subprocess.Popen]:
    binary = shutil.which("redis-server")
    if binary is None:
        skip_or_fail("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


async def _until_ping(broker: RedisBroker) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await broker._redis.ping()
                return
            except Exception:
                await asyncio.sleep(0.05)


async def test_redis_restarting_mid_reply_loses_nothing(tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    session_id, message_id = uuid.uuid4(), uuid.uuid4()
    channel = session_channel(session_id)
    a, b = RedisBroker(url), RedisBroker(url)
    with private_redis(port, tmp_path) as first:
        await _until_ping(a)
        await a.start()
        await b.start()
        on_b = b.subscribe(channel, resync=True)
        a.publish(channel, MessageDelta(session_id, message_id, 0, "Before "))
        assert (await take(on_b, 1))[0].delta == "Before "
        first.kill()
        first.wait()
    # Redis is away: A goes on publishing (its own subscribers still hear it)
    on_a = a.subscribe(channel)
    a.publish(channel, MessageDelta(session_id, message_id, 7, "during "))
    assert (await take(on_a, 1))[0].delta == "during "
    await asyncio.sleep(0.5)
    with private_redis(port, tmp_path):
        a.publish(channel, MessageDelta(session_id, message_id, 14, "after"))
        # B is told it may have missed events (what was published before it subscribed
        # again), and the text so far, kept whole by A, is whole in the new Redis.
        async with asyncio.timeout(WAIT):
            async for event in on_b:
                if event is RESYNC:
                    break
        await text_so_far(b, session_id, "Before during after")
        # and live events flow again
        a.publish(channel, MessageDelta(session_id, message_id, 19, "!"))
        seen = await take(on_b, 1)
        while seen[-1].delta != "!":  # "during "/"after" may come too, had B resubscribed first
            seen += await take(on_b, 1)
        await on_b.close()
        await on_a.close()
        await a.aclose()
        await b.aclose()


def test_bytes_from_redis_only_ever_become_the_projects_own_types():
    from api.events import codec

    for foreign in (
        b'["o",{"$c":"os:system","f":{}}]',
        b'["o",{"$m":"subprocess:Popen","c":{}}]',
        b'["o",{"$c":"api.config:get_settings","f":{}}]',  # in the project, not an event
        b"not json",
        b'["x"]',
    ):
        with pytest.raises(codec.UndecodableEvent):
            codec.decode(foreign)
