"""Reply text fans out in fewer, larger events: what a subscriber reads stays the same.
A subscriber waiting for its next event is handed events in the publisher's call."""

from __future__ import annotations

import asyncio
import time
import uuid

from api.conversations.events import MessageDelta, SessionEnded
from api.events.broker import InMemoryBroker, MergingBroker

SESSION, MESSAGE = uuid.uuid4(), uuid.uuid4()
WINDOW = 0.05


def delta(offset: int, text: str, *, reset: bool = False, message=MESSAGE) -> MessageDelta:
    return MessageDelta(SESSION, message, offset, text, reset)


def queued(subscription) -> list:
    found = list(subscription.queued)
    subscription.queued.clear()
    return found


async def test_the_first_word_goes_at_once_and_the_rest_merges_in_the_window() -> None:
    broker = MergingBroker(InMemoryBroker(), WINDOW)
    async with broker.subscribe("s") as subscription:
        broker.publish("s", delta(0, "Hel"))
        assert queued(subscription) == [delta(0, "Hel")]  # not held back
        broker.publish("s", delta(3, "lo "))
        broker.publish("s", delta(6, "there"))
        assert queued(subscription) == []  # waiting for the window to end
        await asyncio.sleep(WINDOW * 2)
        assert queued(subscription) == [delta(3, "lo there")]


async def test_another_event_delivers_the_waiting_text_first() -> None:
    broker = MergingBroker(InMemoryBroker(), WINDOW)
    ended = SessionEnded(session=None)
    async with broker.subscribe("s") as subscription:
        broker.publish("s", delta(0, "Hi"))
        broker.publish("s", delta(2, " you"))
        broker.publish("s", ended)
        assert queued(subscription) == [delta(0, "Hi"), delta(2, " you"), ended]
        broker.publish("s", delta(0, "Next", message=uuid.uuid4()))  # a new reply: at once
        assert len(queued(subscription)) == 1


async def test_a_reset_or_a_gap_is_never_merged_away() -> None:
    broker = MergingBroker(InMemoryBroker(), WINDOW)
    async with broker.subscribe("s") as subscription:
        broker.publish("s", delta(0, "ab"))
        broker.publish("s", delta(2, "cd"))
        broker.publish("s", delta(0, "", reset=True))  # a retried attempt starts over
        broker.publish("s", delta(0, "xy"))
        await asyncio.sleep(MergingBroker.MAX_HOLD_SECONDS + WINDOW * 2)  # nothing taken
        assert queued(subscription) == [delta(0, "ab"), delta(2, "cd"), delta(0, "xy", reset=True)]


async def test_no_window_delivers_every_delta() -> None:
    broker = MergingBroker(InMemoryBroker(), 0)
    async with broker.subscribe("s") as subscription:
        for n in range(3):
            broker.publish("s", delta(n, "x"))
        assert len(queued(subscription)) == 3


async def test_text_keeps_merging_while_a_subscriber_has_not_taken_the_last_event() -> None:
    broker = MergingBroker(InMemoryBroker(), WINDOW)
    async with broker.subscribe("s") as busy, broker.subscribe("s") as quick:
        broker.publish("s", delta(0, "a"))
        assert queued(quick) == [delta(0, "a")]  # `busy` has not taken it yet
        broker.publish("s", delta(1, "b"))
        await asyncio.sleep(WINDOW * 2)
        broker.publish("s", delta(2, "c"))
        assert queued(quick) == []  # held: one subscriber is behind
        assert queued(busy) == [delta(0, "a")]
        await asyncio.sleep(WINDOW * 2)
        assert queued(quick) == [delta(1, "bc")] == queued(busy)


async def test_after_a_long_delivery_text_waits_as_long_as_it_took() -> None:
    """1,000 sockets handed an event in the publisher's call take tens of ms: the next
    text waits that long, merged, so that delivering keeps to about half the loop."""
    broker = MergingBroker(InMemoryBroker(), WINDOW)
    delivered: list = []

    def slow_socket(event) -> bool:
        delivered.append(event)
        time.sleep(WINDOW * 3)  # the delivery's own work, in the publisher's call
        return True

    async with broker.subscribe("s") as subscription:
        subscription.hand_over(slow_socket)
        reading = asyncio.create_task(anext(aiter(subscription)))
        await asyncio.sleep(0)  # the subscriber waits for its first event
        broker.publish("s", delta(0, "a"))
        broker.publish("s", delta(1, "b"))
        await asyncio.sleep(WINDOW * 1.5)  # past the window, not past the delivery's length
        assert delivered == [delta(0, "a")]
        await asyncio.sleep(WINDOW * 2.5)
        assert delivered == [delta(0, "a"), delta(1, "b")]
        reading.cancel()


async def test_a_waiting_subscriber_is_handed_events_in_order() -> None:
    """Handed over while it waits; queued while a hand-over is still being sent, or when
    the hand-over declines; the subscriber reads those after what was handed over."""
    broker = InMemoryBroker()
    sent: list = []
    finishing = asyncio.get_running_loop().create_future()

    def forward(event):
        if event == "declined":
            return False
        if event == "slow":
            sent.append("slow started")
            return _after(finishing, lambda: sent.append("slow sent"))
        sent.append(event)
        return True

    async with broker.subscribe("s") as subscription:
        subscription.hand_over(forward)
        read: list = []

        async def consume() -> None:
            async for event in subscription:
                read.append((event, list(sent)))

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0)
        broker.publish("s", "one")
        broker.publish("s", "slow")
        broker.publish("s", "after slow")  # queued: the slow one is still being sent
        await asyncio.sleep(0.01)
        assert sent == ["one", "slow started"] and read == []
        finishing.set_result(None)
        await asyncio.sleep(0.01)
        assert read == [("after slow", ["one", "slow started", "slow sent"])]
        broker.publish("s", "declined")
        broker.publish("s", "two")  # the subscriber has one to read: queued too
        await asyncio.sleep(0.01)
        assert [event for event, _ in read] == ["after slow", "declined", "two"]
        broker.publish("s", "three")  # waiting again: handed over
        await asyncio.sleep(0.01)
        assert sent[-1] == "three" and len(read) == 3
        consumer.cancel()


async def _after(done: asyncio.Future, then) -> None:
    await done
    then()
