"""Conversations with history, stored directly (no model involved)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations import service
from api.conversations.models import Message, MessageRole, MessageStatus, Session, SessionStatus
from api.conversations.replies import ReplyEngine
from api.db.base import utcnow


async def say(
    db: AsyncSession,
    conversation: Session,
    words: str,
    reply: str | None = None,
    *,
    reply_status: MessageStatus = MessageStatus.COMPLETE,
) -> list[Message]:
    """The student says `words`; the client answers `reply` when given. Committed."""
    messages = [Message(role=MessageRole.USER, content=words)]
    if reply is not None:
        messages.append(Message(role=MessageRole.ASSISTANT, content=reply, status=reply_status))
    stored = await service.append_messages(db, conversation, messages)
    await db.commit()
    return stored


async def end(db: AsyncSession, conversation: Session) -> None:
    conversation.status, conversation.ended_at = SessionStatus.COMPLETED, utcnow()
    await db.commit()


async def settled(replies: ReplyEngine, session_id: uuid.UUID) -> None:
    """Wait (up to 10 s) until the session's reply in flight, if any, is stored."""
    async with asyncio.timeout(10):
        while (reply := replies.in_flight(session_id)) is not None:
            await asyncio.wait([reply.task])
