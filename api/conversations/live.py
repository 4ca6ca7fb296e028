"""Watching a session live: the reply so far for late joiners, then every event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.conversations.events import MessageDelta, SessionEnded, SessionEvent, session_channel
from api.conversations.models import SessionStatus
from api.conversations.replies import ReplyEngine
from api.conversations.service import get_session
from api.events.broker import Broker


async def watch_session(
    sessions: Callable[[], AsyncSession],
    broker: Broker,
    replies: ReplyEngine,
    actor: Actor,
    session_id: uuid.UUID,
) -> AsyncIterator[SessionEvent]:
    """Events of a session the actor (as stored now) may see, until it ends. A reply in flight comes
    first as one delta with its text so far."""
    # Subscribed before anything is read, so that nothing published meanwhile (the
    # session ending, more of the reply) is missed; deltas the snapshot already holds
    # are dropped below.
    async with broker.subscribe(session_channel(session_id)) as subscription:
        async with sessions() as db:
            conversation = await get_session(db, actor, session_id)
        if conversation.status is not SessionStatus.ACTIVE:
            yield SessionEnded(conversation)
            return
        known: dict[uuid.UUID, int] = {}
        snapshot = replies.snapshot(session_id)
        if snapshot is not None:
            known[snapshot.message_id] = len(snapshot.delta)
            yield snapshot
        async for event in subscription:
            if isinstance(event, MessageDelta) and _already_seen(event, known):
                continue
            yield event
            if isinstance(event, SessionEnded):
                return


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
