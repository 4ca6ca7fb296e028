from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts.security import Actor
from api.classes.models import Section
from api.clients.models import ClientProfile
from api.conversations.models import (
    Message,
    MessageRole,
    MessageStatus,
    Session,
    SessionFeedback,
    SessionKind,
    SessionStatus,
)


def taught_by(
    teacher_id: uuid.UUID,
    table=Session,
    *,
    sections: Collection[uuid.UUID] | None = None,
    profiles: Collection[uuid.UUID] | None = None,
) -> ColumnElement[bool]:
    """The one rule for which sessions a teacher sees, in lists and in analytics alike: the
    ones they held themselves, the ones held with their client profiles and the ones in
    their sections. On sessions, or on a table that carries each session's student,
    profile and section (the usage rollup). `sections` and `profiles`: the teacher's own,
    when already looked up (so that the database can use its indexes)."""
    if sections is None:
        sections = select(Section.id).where(Section.teacher_id == teacher_id)
    if profiles is None:
        profiles = select(ClientProfile.id).where(ClientProfile.owner_id == teacher_id)
    return or_(
        table.student_id == teacher_id,
        table.client_profile_id.in_(profiles),
        table.section_id.in_(sections),
    )


def sessions_visible_to(actor: Actor) -> Select[tuple[Session]]:
    """Students: their own. Teachers: see `taught_by`. Admins: every session. A client
    check's throwaway conversation is no one's to see."""
    stmt = select(Session).where(Session.kind == SessionKind.PRACTICE)
    if actor.section_id is not None:  # an API key narrowed to one section
        return stmt.where(Session.section_id == actor.section_id)
    if actor.is_admin:
        return stmt
    if actor.is_student:
        return stmt.where(Session.student_id == actor.id)
    return stmt.where(taught_by(actor.id))


async def get_visible(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = False
) -> Session | None:
    """The session, if the actor may see it. `lock` holds its row until commit."""
    stmt = sessions_visible_to(actor).where(Session.id == session_id)
    return await session.scalar(stmt.with_for_update(of=Session) if lock else stmt)


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


_RESERVE = (
    update(Session)
    .where(Session.id == bindparam("session_id"))
    .values(message_count=Session.message_count + bindparam("count"))
    .returning(Session.message_count)
    .execution_options(synchronize_session=False)
)


async def reserve_sequence_numbers(session: AsyncSession, conversation: Session, count: int) -> int:
    """Atomically claim `count` sequence numbers; returns the first.

    The UPDATE takes the session row's write lock until commit, so concurrent writers
    to one conversation queue here and their numbers stay contiguous and unique.
    """
    last = await session.scalar(_RESERVE, {"session_id": conversation.id, "count": count})
    set_committed_value(conversation, "message_count", last)
    return last - count + 1


async def get_feedback(session: AsyncSession, session_id: uuid.UUID) -> SessionFeedback | None:
    return await session.scalar(
        select(SessionFeedback).where(SessionFeedback.session_id == session_id)
    )


async def add(session: AsyncSession, *objects) -> None:
    session.add_all(objects)
    await session.flush()


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    return await session.get(Message, message_id)


async def reply_to(session: AsyncSession, user_message: Message) -> Message:
    """The reply stored right after a student's message (sendMessage stores both at once)."""
    return await session.scalar(
        messages_of(user_message.session_id).where(
            Message.sequence_number == user_message.sequence_number + 1
        )
    )


async def streaming_reply(session: AsyncSession, session_id: uuid.UUID) -> Message | None:
    return await session.scalar(
        messages_of(session_id).where(Message.status == MessageStatus.STREAMING)
    )


async def last_reply(session: AsyncSession, session_id: uuid.UUID) -> Message | None:
    return await session.scalar(
        messages_of(session_id)
        .where(Message.role == MessageRole.ASSISTANT)
        .order_by(Message.sequence_number.desc())
        .limit(1)
    )


class Said(NamedTuple):
    """A message as the prompt needs it (plain columns: far cheaper to load than objects)."""

    role: MessageRole
    status: MessageStatus
    content: str


_SAID_SO_FAR = (
    select(Message.role, Message.status, Message.content)
    .where(Message.session_id == bindparam("session_id"))
    .order_by(Message.sequence_number)
)


async def conversation_so_far(session: AsyncSession, session_id: uuid.UUID) -> list[Said]:
    """Every message of the conversation, oldest first."""
    rows = await session.execute(_SAID_SO_FAR, {"session_id": session_id})
    return [Said(*row) for row in rows]


async def profile_of(session: AsyncSession, conversation: Session) -> ClientProfile:
    return await session.get_one(ClientProfile, conversation.client_profile_id)


_PROFILE_SAVED = select(ClientProfile.version, ClientProfile.updated_at).where(
    ClientProfile.id == bindparam("profile_id")
)


async def profile_saved(session: AsyncSession, conversation: Session) -> tuple[int, datetime]:
    """Which saved version of its profile the conversation is held with now (version and
    when it was saved): two columns, not the whole profile."""
    row = await session.execute(_PROFILE_SAVED, {"profile_id": conversation.client_profile_id})
    return tuple(row.one())


async def lost_replies(
    session: AsyncSession, now: datetime, unleased_before: datetime
) -> list[Message]:
    """STREAMING replies whose lease ran out (or, stored without a lease, that have streamed
    since before `unleased_before`). Reads only the few STREAMING rows (a partial index)."""
    rows = await session.scalars(
        select(Message).where(
            Message.status == MessageStatus.STREAMING,
            or_(
                Message.lease_expires_at < now,
                (Message.lease_expires_at.is_(None) & (Message.streaming_since < unleased_before)),
            ),
        )
    )
    return list(rows)


class Lease(NamedTuple):
    status: MessageStatus
    streaming_since: datetime | None
    lease_expires_at: datetime | None


async def lease_of(session: AsyncSession, message_id: uuid.UUID) -> Lease | None:
    row = (
        await session.execute(
            select(Message.status, Message.streaming_since, Message.lease_expires_at).where(
                Message.id == message_id
            )
        )
    ).first()
    return Lease(*row) if row is not None else None


_messages = Message.__table__
_RENEW = (  # Core, executemany: one statement for all of a process's replies
    update(_messages)
    .where(
        _messages.c.id == bindparam("b_id"),
        _messages.c.status == MessageStatus.STREAMING.value,
        _messages.c.lease_owner == bindparam("b_owner"),
    )
    .values(content=bindparam("b_content"), lease_expires_at=bindparam("b_expires"))
)


async def renew_leases(
    session: AsyncSession, owner: str, expires: datetime, texts: dict[uuid.UUID, str]
) -> set[uuid.UUID]:
    """Renew the owner's leases of these replies, storing each one's text so far (one
    statement for all of them); returns the replies the owner still holds."""
    await session.execute(
        _RENEW,
        [
            {"b_id": message_id, "b_owner": owner, "b_content": text, "b_expires": expires}
            for message_id, text in texts.items()
        ],
    )
    held = await session.scalars(
        select(Message.id).where(
            Message.id.in_(list(texts)),
            Message.status == MessageStatus.STREAMING,
            Message.lease_owner == owner,
        )
    )
    return set(held)


async def lock_sessions(session: AsyncSession, session_ids: Collection[uuid.UUID]) -> None:
    """Hold these sessions' rows until commit (PostgreSQL; SQLite writers are serial), in
    one order, so that two transactions never wait for each other."""
    if session.bind.dialect.name == "sqlite":
        return
    await session.execute(
        select(Session.id)
        .where(Session.id.in_(sorted(session_ids)))
        .order_by(Session.id)
        .with_for_update()
    )


async def messages_by_id(
    session: AsyncSession, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Message]:
    """As they are now in the database."""
    rows = await session.scalars(
        select(Message).where(Message.id.in_(message_ids)).execution_options(populate_existing=True)
    )
    return {message.id: message for message in rows}


async def sessions_by_id(
    session: AsyncSession, session_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Session]:
    """Sessions as they are now in the database (their totals change in SQL)."""
    rows = await session.scalars(
        select(Session).where(Session.id.in_(session_ids)).execution_options(populate_existing=True)
    )
    return {conversation.id: conversation for conversation in rows}
