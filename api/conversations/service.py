"""Practice sessions and their messages."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from enum import StrEnum

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
from api.conversations.events import SessionEnded
from api.conversations.models import (
    Message,
    MessageRole,
    MessageStatus,
    Session,
    SessionFeedback,
    SessionStatus,
)
from api.conversations.outcomes import Ending, orphan_ending
from api.conversations.replies import ReplyEngine, ReplyJob
from api.conversations.transcript import built_system_prompt, request_for, system_prompt
from api.db.base import utcnow
from api.db.session import after_commit, unless_committed
from api.errors import ErrorCode, FieldChecker
from api.limits.turns import TurnLimits
from api.llm.base import ChatRequest, ProviderError, estimate_tokens
from api.ops.logs import current_request_id
from api.pagination import Order, Page, PageRequest, paginate
from api.teaching import service as teaching
from api.teaching.service import EvaluationQueue
from api.usage import rollup
from api.usage.rollup import SessionDimensions

NEWEST_SESSIONS = Order((Session.started_at, Session.id), descending=True)
OLDEST_SESSIONS = Order((Session.started_at, Session.id))


class SessionSort(StrEnum):
    """How a list of sessions is sorted (each with its id last, so pages stay stable)."""

    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
    MOST_MESSAGES = "MOST_MESSAGES"
    FEWEST_MESSAGES = "FEWEST_MESSAGES"
    HIGHEST_COST = "HIGHEST_COST"
    LOWEST_COST = "LOWEST_COST"


SESSION_ORDERS = {
    SessionSort.NEWEST: NEWEST_SESSIONS,
    SessionSort.OLDEST: OLDEST_SESSIONS,
    SessionSort.MOST_MESSAGES: Order((Session.message_count, Session.id), descending=True),
    SessionSort.FEWEST_MESSAGES: Order((Session.message_count, Session.id)),
    SessionSort.HIGHEST_COST: Order((Session.estimated_cost, Session.id), descending=True),
    SessionSort.LOWEST_COST: Order((Session.estimated_cost, Session.id)),
}
IN_ORDER = Order((Message.sequence_number,))
MAX_IDEMPOTENCY_KEY = 100
MAX_COMMENT_CHARS = 2000
RETRYABLE = frozenset({MessageStatus.FAILED, MessageStatus.INTERRUPTED})
STILL_ANSWERING = "The client is still answering. Wait for the reply, or stop it, then send again."
RESTARTING = "The server is restarting — send again in a moment."
NO_MODEL = (
    "The client cannot answer: no language model is set up for this session. Your message "
    "was not sent; please tell your teacher."
)


@dataclass
class SessionFilter:
    status: SessionStatus | None = None
    client_profile_id: uuid.UUID | None = None
    student_id: uuid.UUID | None = None
    assignment_id: uuid.UUID | None = None
    section_id: uuid.UUID | None = None


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
    replies: ReplyEngine | None = None,
    feedback: EvaluationQueue | None = None,
) -> tuple[Session, bool]:
    """Resume the active session with this client, or start one. With `new`, the active
    one is ended first, as endSession would (`replies` then stops its reply in flight).

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
        if replies is None:
            raise ValueError("ending the active session needs the reply engine")
        if await _stop_at_its_owner(session, replies, active):
            active = await repository.get_active(session, actor.id, profile.id)
    if active is not None:
        await _finish(session, replies, active, feedback)
    conversation = Session(
        student_id=actor.id,
        client_profile_id=profile.id,
        client_profile_version=profile.version,
        assignment_id=assignment.id if assignment else None,
        section_id=assignment.section_id if assignment else None,
        model=settings.session_model(profile.model),
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


async def get_session(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = False
) -> Session:
    """A session the actor may see. `lock` holds its row until commit (PostgreSQL; SQLite
    writers are serial anyway), so turns of one conversation happen one after another."""
    found = await repository.get_visible(session, actor, session_id, lock=lock)
    if found is None:
        raise ConversationError.not_found("Session")
    return found


async def get_own_session(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = False
) -> Session:
    """A session the actor practises in (admins may act on any)."""
    found = await get_session(session, actor, session_id, lock=lock)
    _require_practising(actor, found)
    return found


def _require_practising(actor: Actor, conversation: Session) -> None:
    if conversation.student_id != actor.id and not actor.is_admin:
        raise ConversationError.forbidden("Only the student practising in a session can do that.")


async def get_active_session(
    session: AsyncSession, actor: Actor, client_profile_id: uuid.UUID
) -> Session | None:
    await clients.get_profile(session, actor, client_profile_id)
    return await repository.get_active(session, actor.id, client_profile_id)


async def list_sessions(
    session: AsyncSession,
    actor: Actor,
    page: PageRequest,
    where: SessionFilter | None = None,
    sort: SessionSort = SessionSort.NEWEST,
) -> Page[Session]:
    stmt = filtered_sessions(actor, where)
    return await paginate(session, stmt, SESSION_ORDERS[sort], page)


def filtered_sessions(actor: Actor, where: SessionFilter | None = None):
    """The sessions the actor may see that match `where` (a select, not yet sorted)."""
    stmt = repository.sessions_visible_to(actor)
    where = where or SessionFilter()
    if where.status is not None:
        stmt = stmt.where(Session.status == where.status)
    if where.client_profile_id is not None:
        stmt = stmt.where(Session.client_profile_id == where.client_profile_id)
    if where.student_id is not None:
        stmt = stmt.where(Session.student_id == where.student_id)
    if where.assignment_id is not None:
        stmt = stmt.where(Session.assignment_id == where.assignment_id)
    if where.section_id is not None:
        stmt = stmt.where(Session.section_id == where.section_id)
    return stmt


async def end_session(
    session: AsyncSession,
    actor: Actor,
    replies: ReplyEngine,
    session_id: uuid.UUID,
    *,
    feedback: EvaluationQueue | None = None,
) -> Session:
    """End a session, stopping a reply in flight. Ending one that already ended changes
    nothing (safe to retry). Its conversation measures are stored, and when its
    assignment has a rubric an evaluation is queued for `feedback` to run once this
    transaction commits (nothing here waits for it)."""
    await _stop_at_its_owner(session, replies, await get_own_session(session, actor, session_id))
    conversation = await get_own_session(session, actor, session_id, lock=True)
    if conversation.status is SessionStatus.ACTIVE:
        await _finish(session, replies, conversation, feedback)
    return conversation


async def _finish(
    session: AsyncSession,
    replies: ReplyEngine,
    conversation: Session,
    feedback: EvaluationQueue | None = None,
) -> None:
    reply = await repository.streaming_reply(session, conversation.id)
    if reply is not None:
        await _cut_short(session, replies, conversation, reply)
    conversation.status, conversation.ended_at = SessionStatus.COMPLETED, utcnow()
    await session.flush()
    await teaching.session_ended(session, conversation, feedback)
    # After the reply's own event, if it is being stored right now.
    after_commit(session, lambda: replies.outcomes.publish_after_reply(SessionEnded(conversation)))


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


@dataclass
class Turn:
    """What sendMessage stored: the student's message and the reply being generated."""

    user_message: Message
    reply: Message


def _checked_message(settings: Settings, content: str, idempotency_key: str | None) -> str:
    check = FieldChecker()
    text = check.text("content", content, label="Message", max_chars=settings.max_message_chars)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        check.add(
            "idempotency_key", f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY} characters."
        )
    elif idempotency_key is not None and "\x00" in idempotency_key:  # PostgreSQL refuses NUL
        check.add("idempotency_key", "idempotencyKey cannot contain a NUL character.")
    check.raise_if_any(ConversationError)
    return text or ""


async def send_message(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    replies: ReplyEngine,
    session_id: uuid.UUID,
    content: str,
    idempotency_key: str | None = None,
    *,
    limits: TurnLimits,
) -> Turn:
    """Store what the student wrote and a STREAMING reply, then (once committed) stream the
    reply. The same idempotency key returns the stored turn and never asks the model again.
    Budgets and rate limits are checked last, so that a refused message uses no quota."""
    text = _checked_message(settings, content, idempotency_key)
    conversation = await get_own_session(session, actor, session_id, lock=True)
    if idempotency_key is not None:
        earlier = await repository.get_by_idempotency_key(session, conversation.id, idempotency_key)
        if earlier is not None:
            return Turn(earlier, await repository.reply_to(session, earlier))
    _require_active(conversation)
    _require_a_model(replies, conversation)
    history = await repository.conversation_so_far(session, conversation.id)
    _require_no_reply_in_flight(history)
    _require_not_draining(replies)
    user_message = Message(
        role=MessageRole.USER,
        content=text,
        status=MessageStatus.COMPLETE,
        idempotency_key=idempotency_key,
        token_count=estimate_tokens(text),
        token_count_estimated=True,
    )
    request = await _prompt(session, settings, conversation, [*history, user_message])
    await limits.admit(session, actor, conversation, request)
    reply = Message(id=uuid.uuid4(), role=MessageRole.ASSISTANT, status=MessageStatus.STREAMING)
    _lease(replies, reply, request)
    _stream(session, replies, conversation, reply, request)
    await _append_guarded(session, conversation, [user_message, reply])
    await rollup.count_messages(session, conversation, 2, first=user_message.sequence_number == 1)
    return Turn(user_message, reply)


def _require_a_model(replies: ReplyEngine, conversation: Session) -> None:
    """PROVIDER_UNAVAILABLE, before anything is stored, when no provider serves the
    session's model any more (say, its API key was removed since the session started)."""
    try:
        replies.streamer.provider_for(conversation.model)
    except ProviderError as error:
        raise ConversationError(ErrorCode.PROVIDER_UNAVAILABLE, NO_MODEL) from error


def _require_no_reply_in_flight(history: list[repository.Said]) -> None:
    if any(message.status is MessageStatus.STREAMING for message in history):
        raise ConversationError.conflict(STILL_ANSWERING)


def _require_not_draining(replies: ReplyEngine) -> None:
    """A process that is stopping (SIGTERM) starts no reply it might not finish."""
    if replies.draining:
        raise ConversationError(ErrorCode.UNAVAILABLE, RESTARTING)


def _lease(replies: ReplyEngine, reply: Message, request: ChatRequest) -> None:
    """The reply streams here: leased to this process, stored with the STREAMING message."""
    reply.streaming_since = utcnow()
    reply.lease_owner, reply.lease_expires_at = replies.owner, replies.lease_until()
    reply.prompt_tokens = request.estimated_input_tokens()


async def _append_guarded(
    session: AsyncSession, conversation: Session, messages: list[Message]
) -> None:
    try:
        await append_messages(session, conversation, messages)
    except IntegrityError as exc:  # another reply started in the same instant
        raise ConversationError.conflict(STILL_ANSWERING) from exc


async def _prompt(
    session: AsyncSession,
    settings: Settings,
    conversation: Session,
    history: list[repository.Said | Message],
) -> ChatRequest:
    saved = await repository.profile_saved(session, conversation)
    prompt = built_system_prompt(conversation.client_profile_id, *saved)
    if prompt is None:  # the first turn with this version of the profile (in this process)
        prompt = system_prompt(await repository.profile_of(session, conversation))
    return request_for(prompt, history, conversation.model, settings)


def _stream(
    session: AsyncSession,
    replies: ReplyEngine,
    conversation: Session,
    reply: Message,
    request: ChatRequest,
) -> None:
    """Start the model call now, every check passed, while the turn is stored: the model's
    first token takes far longer than the commit. Nobody hears of the reply before it is
    committed, and if it never is, the call is cut and billed to the session alone."""
    stored = asyncio.get_running_loop().create_future()
    after_commit(session, lambda: stored.done() or stored.set_result(True))
    unless_committed(session, lambda: stored.done() or stored.set_result(False))
    job = ReplyJob(
        session_id=conversation.id,
        message_id=reply.id,
        dimensions=SessionDimensions.of(conversation),
        request=request,
        request_id=current_request_id(),
        streaming_since=reply.streaming_since,
    )
    replies.start(job, stored)


async def stop_reply(
    session: AsyncSession, actor: Actor, replies: ReplyEngine, session_id: uuid.UUID
) -> Message | None:
    """Stop the reply being generated; it is kept as CANCELLED with the text so far and
    billed for what was generated. Returns the reply (None when there was none)."""
    await _stop_at_its_owner(session, replies, await get_own_session(session, actor, session_id))
    conversation = await get_own_session(session, actor, session_id, lock=True)
    reply = await repository.streaming_reply(session, conversation.id)
    if reply is None:
        return await repository.last_reply(session, conversation.id)
    await _cut_short(session, replies, conversation, reply)
    return reply


async def _stop_at_its_owner(
    session: AsyncSession, replies: ReplyEngine, conversation: Session
) -> bool:
    """A reply streaming in another live process is stopped there, by the one process that
    knows what it cost, before anything is locked here; returns whether it waited. The
    caller then reads the reply as stored (and ends it itself if the owner did not)."""
    reply = await repository.streaming_reply(session, conversation.id)
    if reply is None or not replies.streams_elsewhere(reply):
        return False
    # Nothing is written yet: end the transaction, so that it holds no lock (on SQLite,
    # the writers' lock) while the owner stores the reply.
    await session.commit()
    await replies.stop_elsewhere(reply)
    session.expire(reply)
    session.expire(conversation)
    return True


async def _cut_short(
    session: AsyncSession, replies: ReplyEngine, conversation: Session, reply: Message
) -> None:
    outcome = await replies.stop(conversation.id)
    if outcome is not None:
        ending = Ending(reply.id, conversation.id, SessionDimensions.of(conversation), outcome)
    elif replies.in_flight(conversation.id) is not None:
        return  # it finished in this instant and is being stored as COMPLETE
    else:
        # No process here streams it (its owner died, or did not answer): cancel it with
        # the text its owner last stored, estimated in the owner's place.
        provider = _provider_name(replies, conversation.model)
        ending = orphan_ending(reply, conversation, MessageStatus.CANCELLED, provider, None)
    await replies.outcomes.record(session, [ending])


async def retry_reply(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    replies: ReplyEngine,
    message_id: uuid.UUID,
    *,
    limits: TurnLimits,
) -> Message:
    """Ask again for a reply that failed or was interrupted; it streams into the same place.
    It counts against the budgets, not the message rate limit (no new message)."""
    reply = await repository.get_message(session, message_id)
    conversation = None
    if reply is not None:
        conversation = await repository.get_visible(session, actor, reply.session_id, lock=True)
    if conversation is None:  # a message in a session you may not see is not there for you
        raise ConversationError.not_found("Message")
    _require_practising(actor, conversation)
    if reply.role is not MessageRole.ASSISTANT or reply.status not in RETRYABLE:
        raise ConversationError.conflict(
            "Only a reply that failed or was interrupted can be retried."
        )
    if reply.sequence_number != conversation.message_count:
        raise ConversationError.conflict(
            "Only the latest reply can be retried. Send a new message instead."
        )
    _require_active(conversation)
    _require_a_model(replies, conversation)
    history = await repository.conversation_so_far(session, conversation.id)
    _require_no_reply_in_flight(history)
    _require_not_draining(replies)
    request = await _prompt(session, settings, conversation, history)
    await limits.admit(session, actor, conversation, request, new_message=False)
    reply.status, reply.content, reply.is_fallback = MessageStatus.STREAMING, "", False
    reply.token_count, reply.completed_at = None, None
    _lease(replies, reply, request)
    _stream(session, replies, conversation, reply, request)
    await session.flush()
    return reply


async def interrupt_lost_replies(replies: ReplyEngine, read_sessions) -> int:
    """Replies whose process stopped renewing their lease (it crashed or was killed) become
    INTERRUPTED with the text streamed so far, so the student can retry them from here."""

    def alive(reply: Message) -> bool:
        return reply.lease_owner == replies.owner and replies.streams(reply.id, reply.session_id)

    return await replies.outcomes.take_over(
        read_sessions, lambda model: _provider_name(replies, model), alive
    )


def _provider_name(replies: ReplyEngine, model: str) -> str:
    try:
        return replies.streamer.provider_for(model).name
    except ProviderError:
        return "unknown"


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
