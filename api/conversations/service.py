"""Practice sessions and their messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.classes.models import Assignment, AssignmentStatus
from api.classes.repository import assignments_visible_to
from api.clients import service as clients
from api.clients.models import ClientProfile
from api.config import Settings
from api.conversations import repository
from api.conversations.errors import ConversationError
from api.conversations.models import (
    Message,
    MessageRole,
    MessageStatus,
    Session,
    SessionFeedback,
    SessionStatus,
)
from api.db.base import utcnow
from api.errors import FieldChecker
from api.pagination import Order, Page, PageRequest, paginate

NEWEST_SESSIONS = Order((Session.started_at, Session.id), descending=True)
IN_ORDER = Order((Message.sequence_number,))
MAX_IDEMPOTENCY_KEY = 100
MAX_COMMENT_CHARS = 2000


@dataclass
class SessionFilter:
    status: SessionStatus | None = None
    client_profile_id: uuid.UUID | None = None
    student_id: uuid.UUID | None = None


async def _assignment_for(
    session: AsyncSession, actor: Actor, profile: ClientProfile, assignment_id: uuid.UUID | None
) -> Assignment | None:
    """The assignment a session belongs to: the one asked for, else the newest that fits."""
    stmt = assignments_visible_to(actor).where(
        Assignment.status == AssignmentStatus.PUBLISHED,
        Assignment.client_profiles.any(ClientProfile.id == profile.id),
    )
    if assignment_id is not None:
        found = await session.scalar(stmt.where(Assignment.id == assignment_id))
        if found is None:
            raise ConversationError.invalid(
                "assignment_id", "That assignment does not include this client, or is not open."
            )
        return found
    return await session.scalar(stmt.order_by(Assignment.published_at.desc()).limit(1))


async def start_session(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    client_profile_id: uuid.UUID,
    *,
    assignment_id: uuid.UUID | None = None,
    new: bool = False,
) -> tuple[Session, bool]:
    """Resume the active session with this client, or start one (ending the old if `new`).

    Returns the session and whether it was resumed.
    """
    profile = await clients.get_profile(session, actor, client_profile_id)
    if profile.archived:
        raise ConversationError.conflict(f"{profile.name} is archived; restore the profile first.")
    assignment = await _assignment_for(session, actor, profile, assignment_id)
    active = await repository.get_active(session, actor.id, profile.id)
    if active is not None and not new:
        return active, True
    if active is not None:
        _end(active)
        await session.flush()
    conversation = Session(
        student_id=actor.id,
        client_profile_id=profile.id,
        client_profile_version=profile.version,
        assignment_id=assignment.id if assignment else None,
        model=profile.model or settings.chat_model,
    )
    try:
        async with session.begin_nested():
            await repository.add(session, conversation)
    except IntegrityError:  # a concurrent start created it first: resume that one
        active = await repository.get_active(session, actor.id, profile.id)
        if active is None:
            raise
        return active, True
    return conversation, False


async def get_session(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> Session:
    found = await session.scalar(
        repository.sessions_visible_to(actor).where(Session.id == session_id)
    )
    if found is None:
        raise ConversationError.not_found("Session")
    return found


async def get_own_session(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> Session:
    """A session the actor practises in (admins may act on any)."""
    found = await get_session(session, actor, session_id)
    if found.student_id != actor.id and not actor.is_admin:
        raise ConversationError.forbidden("Only the student practising in a session can do that.")
    return found


async def get_active_session(
    session: AsyncSession, actor: Actor, client_profile_id: uuid.UUID
) -> Session | None:
    await clients.get_profile(session, actor, client_profile_id)
    return await repository.get_active(session, actor.id, client_profile_id)


async def list_sessions(
    session: AsyncSession, actor: Actor, page: PageRequest, where: SessionFilter | None = None
) -> Page[Session]:
    stmt = repository.sessions_visible_to(actor)
    where = where or SessionFilter()
    if where.status is not None:
        stmt = stmt.where(Session.status == where.status)
    if where.client_profile_id is not None:
        stmt = stmt.where(Session.client_profile_id == where.client_profile_id)
    if where.student_id is not None:
        stmt = stmt.where(Session.student_id == where.student_id)
    return await paginate(session, stmt, NEWEST_SESSIONS, page)


def _end(conversation: Session) -> None:
    conversation.status = SessionStatus.COMPLETED
    conversation.ended_at = utcnow()


async def end_session(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> Session:
    """End a session. Ending one that already ended changes nothing (safe to retry)."""
    conversation = await get_own_session(session, actor, session_id)
    if conversation.status is SessionStatus.ACTIVE:
        _end(conversation)
        await session.flush()
    return conversation


def _require_active(conversation: Session) -> None:
    if conversation.status is not SessionStatus.ACTIVE:
        raise ConversationError.conflict(
            "This session has ended. Start a new session to keep practising."
        )


async def append_messages(
    session: AsyncSession, conversation: Session, messages: list[Message]
) -> list[Message]:
    """Store messages at the next contiguous sequence numbers of the conversation."""
    first = await repository.reserve_sequence_numbers(session, conversation, len(messages))
    for offset, message in enumerate(messages):
        message.session_id = conversation.id
        message.sequence_number = first + offset
    await repository.add(session, *messages)
    return messages


async def add_student_message(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    session_id: uuid.UUID,
    content: str,
    idempotency_key: str | None = None,
) -> Message:
    """Store what the student wrote. The same idempotency key returns the stored message."""
    check = FieldChecker()
    text = check.text("content", content, label="Message", max_chars=settings.max_message_chars)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        check.add(
            "idempotency_key", f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
        )
    elif idempotency_key is not None and "\x00" in idempotency_key:  # PostgreSQL refuses NUL
        check.add("idempotency_key", "idempotencyKey cannot contain a NUL character.")
    check.raise_if_any(ConversationError)
    conversation = await get_own_session(session, actor, session_id)
    if idempotency_key is not None:
        earlier = await repository.get_by_idempotency_key(session, conversation.id, idempotency_key)
        if earlier is not None:
            return earlier
    _require_active(conversation)
    message = Message(
        role=MessageRole.USER,
        content=text,
        status=MessageStatus.COMPLETE,
        idempotency_key=idempotency_key,
    )
    [stored] = await append_messages(session, conversation, [message])
    return stored


async def list_messages(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, page: PageRequest
) -> Page[Message]:
    conversation = await get_session(session, actor, session_id)
    return await messages_page(session, conversation.id, page)


async def messages_page(
    session: AsyncSession, conversation_id: uuid.UUID, page: PageRequest
) -> Page[Message]:
    """Messages of a conversation the caller has already been allowed to see."""
    return await paginate(session, repository.messages_of(conversation_id), IN_ORDER, page)


async def rate_session(
    session: AsyncSession,
    actor: Actor,
    session_id: uuid.UUID,
    rating: int,
    comment: str | None = None,
) -> SessionFeedback:
    """The student's rating of a session they finished; rating again replaces it."""
    check = FieldChecker()
    check.int_range("rating", rating, label="Rating", low=1, high=5)
    comment = check.text(
        "comment", comment or "", label="Comment", max_chars=MAX_COMMENT_CHARS, required=False
    )
    check.raise_if_any(ConversationError)
    conversation = await get_own_session(session, actor, session_id)
    if conversation.status is SessionStatus.ACTIVE:
        raise ConversationError.conflict("End the session before rating it.")
    feedback = await repository.get_feedback(session, conversation.id)
    if feedback is None:
        feedback = SessionFeedback(session_id=conversation.id, student_id=conversation.student_id)
    feedback.rating, feedback.comment = rating, comment or ""
    await repository.add(session, feedback)
    return feedback
