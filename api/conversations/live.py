"""Watching a session live: the reply so far for late joiners, then every event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.conversations import repository
from api.conversations.events import (
    MessageCompleted,
    MessageDelta,
    MessageFailed,
    SessionEnded,
    SessionEvent,
    session_channel,
)
from api.conversations.models import MessageStatus, SessionStatus
from api.conversations.replies import INTERRUPTED, UNAVAILABLE, ReplyEngine
from api.conversations.service import get_session
from api.events.broker import RESYNC, Broker, Forward


async def watch_session(
    sessions: Callable[[], AsyncSession],
    broker: Broker,
    replies: ReplyEngine,
    actor: Actor,
    session_id: uuid.UUID,
    forward: Forward | None = None,
) -> AsyncIterator[SessionEvent]:
    """Events of a session the actor (as stored now) may see, until it ends. A reply in flight comes
    first as one delta with its text so far (from this process, or from the broker when it
    streams in another). After a gap in delivery (the broker lost Redis for a while), what
    was missed is re-read from the database. With `forward`, the events this would yield
    as they come may be handed to it instead while the watcher waits (`hand_over`)."""
    # Subscribed before anything is read, so that nothing published meanwhile (the
    # session ending, more of the reply) is missed; deltas the snapshot already holds
    # are dropped below.
    channel = session_channel(session_id)
    async with broker.subscribe(channel, resync=True) as subscription:
        async with sessions() as db:
            conversation = await get_session(db, actor, session_id)
        if conversation.status is not SessionStatus.ACTIVE:
            yield SessionEnded(conversation)
            return
        known: dict[uuid.UUID, int] = {}
        # Outcomes a catch-up told (message id -> status): the same outcome arriving late
        # from another process, and the deltas before it, are not told again.
        caught_up: dict[uuid.UUID, MessageStatus] = {}
        snapshot = await _reply_so_far(sessions, broker, replies, session_id)
        if snapshot is not None:
            known[snapshot.message_id] = len(snapshot.delta)
            yield snapshot

        def straight_on(event: object) -> bool | Awaitable[object]:
            """What the loop below does with an event that needs no catching up."""
            if caught_up or event is RESYNC or isinstance(event, SessionEnded):
                return False
            if isinstance(event, MessageDelta) and _already_seen(event, known):
                return True
            return forward(event)

        if forward is not None:
            subscription.hand_over(straight_on)
        async for event in subscription:
            if event is RESYNC:
                async for missed in _catch_up(sessions, broker, replies, actor, session_id):
                    if isinstance(missed, MessageDelta):
                        known[missed.message_id] = len(missed.delta)
                    elif isinstance(missed, MessageCompleted | MessageFailed):
                        caught_up[missed.message.id] = missed.message.status
                    yield missed
                    if isinstance(missed, SessionEnded):
                        return
                continue
            if isinstance(event, MessageDelta):
                if event.message_id in caught_up:
                    if not (event.reset or event.offset == 0):
                        continue  # late news of a reply already told as stored
                    del caught_up[event.message_id]  # it streams again (a retry)
                if _already_seen(event, known):
                    continue
            elif isinstance(event, MessageCompleted | MessageFailed):
                if caught_up.get(event.message.id) is event.message.status:
                    del caught_up[event.message.id]
                    continue
            yield event
            if isinstance(event, SessionEnded):
                return


async def _reply_so_far(
    sessions: Callable[[], AsyncSession],
    broker: Broker,
    replies: ReplyEngine,
    session_id: uuid.UUID,
) -> MessageDelta | None:
    """The text so far of the reply streaming here, or in another process (as that one
    keeps it in the broker), as long as the database says the reply is still streaming."""
    here = replies.snapshot(session_id)
    if here is not None:
        return here
    elsewhere = await broker.reply_so_far(session_id)
    if elsewhere is None:
        return None
    async with sessions() as db:
        streaming = await repository.streaming_reply(db, session_id)
    return elsewhere if streaming is not None and streaming.id == elsewhere.message_id else None


async def _catch_up(
    sessions: Callable[[], AsyncSession],
    broker: Broker,
    replies: ReplyEngine,
    actor: Actor,
    session_id: uuid.UUID,
) -> AsyncIterator[SessionEvent]:
    """The session as stored now: ended, its last reply's outcome, or the text so far."""
    async with sessions() as db:
        conversation = await get_session(db, actor, session_id)
        reply = await repository.last_reply(db, session_id)
    if conversation.status is not SessionStatus.ACTIVE:
        yield SessionEnded(conversation)
        return
    if reply is None:
        return
    if reply.status is MessageStatus.STREAMING:
        snapshot = await _reply_so_far(sessions, broker, replies, session_id)
        if snapshot is not None and snapshot.message_id == reply.id:
            yield snapshot
    elif reply.status is MessageStatus.FAILED:
        yield MessageFailed(reply, UNAVAILABLE, retryable=True)
    elif reply.status is MessageStatus.INTERRUPTED:
        yield MessageFailed(reply, INTERRUPTED, retryable=True)
    else:
        yield MessageCompleted(reply, conversation)


async def may_watch(
    sessions: Callable[[], AsyncSession], actor: Actor, session_id: uuid.UUID
) -> None:
    """The actor (as stored now) may still see the session: NOT_FOUND otherwise."""
    async with sessions() as db:
        await get_session(db, actor, session_id)


def _already_seen(delta: MessageDelta, known: dict[uuid.UUID, int]) -> bool:
    """True for a delta whose text the snapshot already held."""
    seen = known.get(delta.message_id)
    if delta.reset or seen is None:
        known.pop(delta.message_id, None)
        return False
    if delta.offset + len(delta.delta) <= seen:
        return True
    known.pop(delta.message_id)
    return False
