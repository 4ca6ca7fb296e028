"""The daily rollup that analytics read stays equal to the messages and model calls it sums.

Real turns (the real ReplyEngine and SDK against the fake Anthropic server, and the offline
simulator) go through everything that adds to the rollup: a plain reply, one retried after
a cut stream, one stopped mid-stream, one that failed and was retried by the student, one
the fallback model answered, a resent message. Then the rollup kept turn by turn must equal
what the migration's backfill SQL (`rebuild_sql`) computes from scratch.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, func, select, text

from api.conversations import service
from api.conversations.models import Message, Session
from api.runtime import Runtime
from api.usage import rollup
from api.usage.models import DailyUsage, UsageRecord
from tests.factories.accounts import actor
from tests.factories.conversations import settled
from tests.factories.usage import HAIKU, SONNET
from tests.factories.world import make_world
from tests.fakes.anthropic_server import FakeAnthropic, Fault, Reply, fake_anthropic  # noqa: F401

ANSWER = "I haven't slept properly in weeks, to be honest."
LONG_ANSWER = "Well, it started when I moved here. Nights are long and the days blur together."
MEASURES, BILLED = rollup.MEASURES, rollup.BILLED


@pytest.fixture
def fake(fake_anthropic: FakeAnthropic) -> FakeAnthropic:  # noqa: F811
    return fake_anthropic


@pytest.fixture
async def claude(settings, fake: FakeAnthropic):
    """A runtime whose Claude is the fake: quick retries, two attempts per model."""
    rt = Runtime.create(
        settings.model_copy(
            update={
                "anthropic_api_key": SecretStr(fake.api_key),
                "anthropic_base_url": fake.url,
                "retry_base_delay_seconds": 0.01,
                "retry_max_delay_seconds": 0.05,
                "first_token_timeout_seconds": 0.5,
                "retry_max_attempts": 2,
                "fallback_model": SONNET,
            }
        )
    )
    yield rt
    await rt.close()


class Chat:
    """A student's practice session on a runtime."""

    def __init__(self, rt: Runtime, student, session_id: uuid.UUID) -> None:
        self.rt, self.student, self.id = rt, student, session_id

    @classmethod
    async def start(cls, rt: Runtime) -> Chat:
        async with rt.sessions() as db:
            world = await make_world(db, rt.settings)
            student = actor(world.student)
            conversation, _ = await service.start_session(
                db, student, rt.settings, world.profile.id, assignment_id=world.assignment.id
            )
            await db.commit()
        return cls(rt, student, conversation.id)

    async def send(self, words: str, key: str | None = None) -> None:
        async with self.rt.sessions() as db:
            await service.send_message(
                db,
                self.student,
                self.rt.settings,
                self.rt.replies,
                self.id,
                words,
                key,
                limits=self.rt.turn_limits,
            )
            await db.commit()

    async def turn(self, words: str, key: str | None = None) -> None:
        await self.send(words, key)
        await settled(self.rt.replies, self.id)

    async def stop_mid_reply(self, words: str) -> None:
        await self.send(words)
        async with asyncio.timeout(5):  # until a few chunks have been streamed
            while len(getattr(self.rt.replies.in_flight(self.id), "parts", ())) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        async with self.rt.sessions() as db:
            await service.stop_reply(db, self.student, self.rt.replies, self.id)
            await db.commit()
        await settled(self.rt.replies, self.id)

    async def retry_last_reply(self) -> None:
        async with self.rt.sessions() as db:
            last = await db.scalar(
                select(Message.id)
                .where(Message.session_id == self.id)
                .order_by(Message.sequence_number.desc())
                .limit(1)
            )
            await service.retry_reply(
                db,
                self.student,
                self.rt.settings,
                self.rt.replies,
                last,
                limits=self.rt.turn_limits,
            )
            await db.commit()
        await settled(self.rt.replies, self.id)

    async def end(self) -> None:
        async with self.rt.sessions() as db:
            await service.end_session(db, self.student, self.rt.replies, self.id)
            await db.commit()


async def rollup_rows(db, ids: list[uuid.UUID]) -> dict[tuple, dict]:
    rows = await db.scalars(select(DailyUsage).where(DailyUsage.session_id.in_(ids)))
    return {
        (row.day, row.session_id, row.model): {
            name: getattr(row, name) for name in (*rollup.DIMENSIONS, *MEASURES)
        }
        for row in rows
    }


async def rebuilt_from_scratch(rt: Runtime, ids: list[uuid.UUID]) -> dict[tuple, dict]:
    """The rollup as the backfill computes it: emptied and rebuilt, read, rolled back."""
    async with rt.sessions() as db:
        await db.execute(delete(DailyUsage))
        await db.execute(text(rollup.rebuild_sql(db.bind.dialect.name)))
        rebuilt = await rollup_rows(db, ids)
        await db.rollback()
    return rebuilt


async def played_out(claude: Runtime, simulator: Runtime, fake: FakeAnthropic) -> list[Chat]:
    """Every kind of turn that adds to the rollup, on three sessions."""
    sonnet_answers = [Fault.status(529)] * 2 + [Reply(text=ANSWER)]
    nobody_answers = [Fault.status(529)] * 4
    fake.enqueue(
        Reply(text=ANSWER),  # a plain reply
        Fault.cut_after(2),  # cut mid-stream and retried by the engine
        Reply(text=LONG_ANSWER),
        Reply(text=LONG_ANSWER, delay_between_chunks=0.1),  # stopped by the student
        *nobody_answers,  # fails, and the student retries it
        Reply(text=ANSWER),
        *sonnet_answers,  # the fallback model answers
    )
    chat = await Chat.start(claude)
    await chat.turn("How have you been sleeping?", key="first")
    await chat.turn("How have you been sleeping?", key="first")  # resent: counted once
    await chat.turn("Tell me more about that.")
    await chat.stop_mid_reply("What keeps you up?")
    await chat.turn("Is anyone there?")
    await chat.retry_last_reply()
    await chat.end()
    fallback = await Chat.start(claude)
    await fallback.turn("Hello?")
    offline = await Chat.start(simulator)
    await offline.turn("Hi, I'm the counsellor.")
    await offline.turn("What brings you here today?")
    return [chat, fallback, offline]


async def test_the_rollup_kept_turn_by_turn_equals_one_rebuilt_from_scratch(claude, runtime, fake):
    chats = await played_out(claude, runtime, fake)
    ids = [chat.id for chat in chats]
    async with claude.sessions() as db:
        kept = await rollup_rows(db, ids)

    assert kept == await rebuilt_from_scratch(claude, ids)
    chat, fallback, offline = ids
    by_session = {(sid, model): row for (_, sid, model), row in kept.items()}
    # 4 turns (the resend is the first one again); calls: 1 + 2 (cut, then whole) + 1
    # (stopped) + 1 (the student's retry; the refused attempts are not billed)
    assert (by_session[chat, HAIKU]["messages"], by_session[chat, HAIKU]["calls"]) == (8, 5)
    # the fallback's reply counts with the session's model, its call with Sonnet's
    assert by_session[fallback, HAIKU]["messages"] == 2
    assert by_session[fallback, HAIKU]["calls"] == 0
    assert (by_session[fallback, SONNET]["messages"], by_session[fallback, SONNET]["calls"]) == (
        0,
        1,
    )
    assert [model for sid, model in by_session if sid == offline] == ["practicum-simulator"]
    assert by_session[offline, "practicum-simulator"]["messages"] == 4


async def test_the_rollup_totals_equal_the_records_and_messages_they_sum(claude, runtime, fake):
    chats = await played_out(claude, runtime, fake)
    ids = [chat.id for chat in chats]
    async with claude.sessions() as db:
        in_rollup = (
            await db.execute(
                select(*(func.sum(getattr(DailyUsage, name)) for name in MEASURES)).where(
                    DailyUsage.session_id.in_(ids)
                )
            )
        ).one()
        records = (
            await db.execute(
                select(
                    func.count(),
                    *(func.sum(getattr(UsageRecord, name)) for name in BILLED),
                ).where(UsageRecord.session_id.in_(ids))
            )
        ).one()
        messages = await db.scalar(
            select(func.count()).select_from(Message).where(Message.session_id.in_(ids))
        )
        sessions = (
            await db.execute(
                select(*(func.sum(getattr(Session, name)) for name in BILLED[:-1])).where(
                    Session.id.in_(ids)
                )
            )
        ).one()
        session_cost = await db.scalar(
            select(func.sum(Session.estimated_cost)).where(Session.id.in_(ids))
        )
    assert tuple(in_rollup) == (len(chats), messages, *records)  # each session counted once
    assert messages == 14
    assert tuple(in_rollup[3:-1]) == tuple(sessions)
    assert in_rollup[-1] == session_cost > Decimal(0)
