"""Reply text fans out in fewer, larger events: what a subscriber reads stays the same."""

from __future__ import annotations

import asyncio
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
