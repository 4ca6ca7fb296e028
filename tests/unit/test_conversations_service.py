"""Sessions and messages: resume rules, ordering under concurrency, idempotency, rating."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from api.conversations import service
from api.conversations.events import MessageCompleted, SessionEnded, session_channel
from api.conversations.models import Message, MessageStatus, Session, SessionStatus
from api.errors import ErrorCode, PracticumError
from api.pagination import PageRequest
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.factories.accounts import actor
from tests.factories.conversations import end, say, settled
from tests.factories.world import make_world


async def _start(db, settings, world, **kwargs):
    conversation, resumed = await service.start_session(
        db, actor(world.student), settings, world.profile.id, **kwargs
    )
    await db.commit()
    return conversation, resumed


async def test_start_resumes_the_active_session_unless_asked_for_a_new_one(runtime, db, settings):
    world = await make_world(db, settings)
    first, resumed = await _start(db, settings, world)
    assert not resumed and first.assignment_id == world.assignment.id
    again, resumed = await _start(db, settings, world)
    assert resumed and again.id == first.id

    fresh, resumed = await _start(db, settings, world, new=True, replies=runtime.replies)
    assert not resumed and fresh.id != first.id
    await db.refresh(first)
    assert first.status is SessionStatus.COMPLETED and first.ended_at is not None
    active = await service.get_active_session(db, actor(world.student), world.profile.id)
    assert active.id == fresh.id


async def test_concurrent_starts_share_one_active_session(runtime, db, settings):
    world = await make_world(db, settings)

    async def start():
        async with runtime.sessions() as own:
            conversation, _ = await service.start_session(
                own, actor(world.student), settings, world.profile.id
            )
            await own.commit()
            return conversation.id

    ids = await asyncio.gather(*(start() for _ in range(8)))
    assert len(set(ids)) == 1
    count = await db.scalar(
        select(func.count()).select_from(Session).where(Session.student_id == world.student.id)
    )
    assert count == 1


async def test_fifty_parallel_sends_start_one_reply_and_the_rest_wait(db, settings):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    # A client who takes a second to answer, as a real one does.
    runtime = Runtime.create(settings.model_copy(update={"simulator_delay_seconds": 0.05}))

    async def send(n: int):
        async with runtime.sessions() as own:
            try:
                turn = await service.send_message(
                    own,
                    actor(world.student),
                    settings,
                    runtime.replies,
                    conversation.id,
                    f"m{n}",
                    limits=runtime.turn_limits,
                )
            except PracticumError as refused:
                return refused.code
            await own.commit()
            return turn

    results = await asyncio.gather(*(send(n) for n in range(50)))
    turns = [r for r in results if isinstance(r, service.Turn)]
    assert len(turns) == 1
    assert results.count(ErrorCode.CONFLICT) == 49
    [turn] = turns
    assert (turn.user_message.sequence_number, turn.reply.sequence_number) == (1, 2)

    await settled(runtime.replies, conversation.id)
    later = await service.send_message(
        db,
        actor(world.student),
        settings,
        runtime.replies,
        conversation.id,
        "And now?",
        limits=runtime.turn_limits,
    )
    await db.commit()
    assert (later.user_message.sequence_number, later.reply.sequence_number) == (3, 4)
    await settled(runtime.replies, conversation.id)
    async with runtime.sessions() as fresh:  # replies are stored in transactions of their own
        page = await service.messages_page(fresh, conversation.id, PageRequest(first=100))
    assert [(m.sequence_number, m.status) for m in page.items] == [
        (n, MessageStatus.COMPLETE) for n in (1, 2, 3, 4)
    ]
    await runtime.close()


async def test_messages_page_in_order(db, settings):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    for n in range(5):
        await say(db, conversation, f"m{n}")

    seen, after = [], None
    while True:
        page = await service.messages_page(db, conversation.id, PageRequest(first=2, after=after))
        seen += [m.content for m in page.items]
        if not page.has_next_page:
            break
        after = page.cursors[-1]
    assert seen == ["m0", "m1", "m2", "m3", "m4"]


async def test_same_idempotency_key_stores_the_turn_once_and_asks_the_model_once(
    runtime, db, settings
):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    student = actor(world.student)

    async def send():
        turn = await service.send_message(
            db,
            student,
            settings,
            runtime.replies,
            conversation.id,
            "hello",
            idempotency_key="k1",
            limits=runtime.turn_limits,
        )
        await db.commit()
        return turn

    first = await send()
    again = await send()  # while the reply streams
    await settled(runtime.replies, conversation.id)
    after = await send()  # once it is stored
    assert again.user_message.id == first.user_message.id == after.user_message.id
    assert again.reply.id == first.reply.id == after.reply.id
    messages = await db.scalar(
        select(func.count()).select_from(Message).where(Message.session_id == conversation.id)
    )
    calls = await db.scalar(select(func.count()).where(UsageRecord.session_id == conversation.id))
    assert (messages, calls) == (2, 1)


async def test_ended_session_takes_no_messages_and_can_be_rated(runtime, db, settings):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    student = actor(world.student)

    with pytest.raises(PracticumError) as early:
        await service.rate_session(db, student, conversation.id, 5)
    assert early.value.code is ErrorCode.CONFLICT

    ended = await service.end_session(db, student, runtime.replies, conversation.id)
    again = await service.end_session(db, student, runtime.replies, conversation.id)  # again
    assert ended.status is SessionStatus.COMPLETED and again.ended_at == ended.ended_at
    await db.commit()

    with pytest.raises(PracticumError) as late:
        await service.send_message(
            db,
            student,
            settings,
            runtime.replies,
            conversation.id,
            "still there?",
            limits=runtime.turn_limits,
        )
    assert late.value.code is ErrorCode.CONFLICT
    assert "Start a new session" in late.value.message

    await service.rate_session(db, student, conversation.id, 4, "Helpful")
    feedback = await service.rate_session(db, student, conversation.id, 5, "Even better")
    await db.commit()
    assert (feedback.rating, feedback.comment) == (5, "Even better")


@pytest.mark.parametrize("rating", [0, 6])
async def test_rating_outside_one_to_five_is_refused(db, settings, rating):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    await end(db, conversation)
    with pytest.raises(PracticumError) as refused:
        await service.rate_session(db, actor(world.student), conversation.id, rating)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert refused.value.details["fields"][0]["field"] == "rating"


async def test_empty_and_oversized_messages_are_refused(runtime, db, settings):
    world = await make_world(db, settings)
    conversation, _ = await _start(db, settings, world)
    for content in ["", "   ", "x" * (settings.max_message_chars + 1)]:
        with pytest.raises(PracticumError) as refused:
            await service.send_message(
                db,
                actor(world.student),
                settings,
                runtime.replies,
                conversation.id,
                content,
                limits=runtime.turn_limits,
            )
        assert refused.value.code is ErrorCode.BAD_USER_INPUT
    await db.rollback()
    await db.refresh(conversation)
    assert conversation.message_count == 0


async def test_session_filter_by_status(runtime, db, settings):
    world = await make_world(db, settings)
    first, _ = await _start(db, settings, world)
    second, _ = await _start(db, settings, world, new=True, replies=runtime.replies)
    student = actor(world.student)
    completed = await service.list_sessions(
        db, student, PageRequest(first=10), service.SessionFilter(status=SessionStatus.COMPLETED)
    )
    active = await service.list_sessions(
        db, student, PageRequest(first=10), service.SessionFilter(status=SessionStatus.ACTIVE)
    )
    assert [s.id for s in completed.items] == [first.id]
    assert [s.id for s in active.items] == [second.id]


async def test_starting_afresh_mid_reply_stops_the_reply_and_tells_watchers(db, settings):
    world = await make_world(db, settings)
    runtime = Runtime.create(settings.model_copy(update={"simulator_delay_seconds": 0.05}))
    old, _ = await _start(db, settings, world)
    student = actor(world.student)
    async with runtime.broker.subscribe(session_channel(old.id)) as watching:
        await service.send_message(
            db, student, settings, runtime.replies, old.id, "Hi there", limits=runtime.turn_limits
        )
        await db.commit()
        await asyncio.sleep(0.2)  # part of the reply has streamed

        fresh, resumed = await _start(db, settings, world, new=True, replies=runtime.replies)

        seen = []
        async with asyncio.timeout(5):
            async for event in watching:
                seen.append(event)
                if isinstance(event, SessionEnded):
                    break
    assert not resumed and fresh.id != old.id
    completed = [e for e in seen if isinstance(e, MessageCompleted)]
    assert [e.message.status for e in completed] == [MessageStatus.CANCELLED]
    assert runtime.replies.in_flight(old.id) is None
    await runtime.close()
