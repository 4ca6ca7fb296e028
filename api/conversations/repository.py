from __future__ import annotations

import uuid

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts.security import Actor
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.conversations.models import Message, Session, SessionFeedback, SessionStatus


def sessions_visible_to(actor: Actor) -> Select[tuple[Session]]:
    """Students: their own. Teachers: sessions with their profiles or in their sections."""
    stmt = select(Session)
    if actor.is_admin:
        return stmt
    if actor.is_student:
        return stmt.where(Session.student_id == actor.id)
    owns_profile = select(ClientProfile.id).where(
        ClientProfile.id == Session.client_profile_id, ClientProfile.owner_id == actor.id
    )
    in_own_section = (
        select(Assignment.id)
        .join(Section, Section.id == Assignment.section_id)
        .where(Assignment.id == Session.assignment_id, Section.teacher_id == actor.id)
    )
    return stmt.where(
        or_(Session.student_id == actor.id, owns_profile.exists(), in_own_section.exists())
    )


def messages_of(session_id: uuid.UUID) -> Select[tuple[Message]]:
    return select(Message).where(Message.session_id == session_id)


async def get_active(
    session: AsyncSession, student_id: uuid.UUID, client_profile_id: uuid.UUID
) -> Session | None:
    return await session.scalar(
        select(Session).where(
            Session.student_id == student_id,
            Session.client_profile_id == client_profile_id,
            Session.status == SessionStatus.ACTIVE,
        )
    )


async def get_by_idempotency_key(
    session: AsyncSession, session_id: uuid.UUID, key: str
) -> Message | None:
    return await session.scalar(
        select(Message).where(Message.session_id == session_id, Message.idempotency_key == key)
    )


async def reserve_sequence_numbers(session: AsyncSession, conversation: Session, count: int) -> int:
    """Atomically claim `count` sequence numbers; returns the first.

    The UPDATE takes the session row's write lock until commit, so concurrent writers
    to one conversation queue here and their numbers stay contiguous and unique.
    """
    last = await session.scalar(
        update(Session)
        .where(Session.id == conversation.id)
        .values(message_count=Session.message_count + count)
        .returning(Session.message_count)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(conversation, "message_count", last)
    return last - count + 1


async def get_feedback(session: AsyncSession, session_id: uuid.UUID) -> SessionFeedback | None:
    return await session.scalar(
        select(SessionFeedback).where(SessionFeedback.session_id == session_id)
    )


async def add(session: AsyncSession, *objects) -> None:
    session.add_all(objects)
    await session.flush()
