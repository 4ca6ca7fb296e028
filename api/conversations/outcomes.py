"""How a reply ends, in one place.

A reply ends COMPLETE, FAILED, CANCELLED or INTERRUPTED. Whoever ends it (its stream
finishing or failing, the student stopping it, the process shutting down, or another process
taking over a reply whose owner stopped renewing its lease) builds an `Ending` and hands it
here. `store` writes it in one transaction: it claims the reply (only a reply still STREAMING
is stored, and only once, whichever process gets there first), writes its text and status,
its usage records and the session totals, and an ErrorEvent where due; once that transaction
has committed, the one event (`MessageCompleted` or `MessageFailed`) is published.

A process that ends a reply another one streams (taken over, or stopped when its owner did
not answer) can only estimate what it cost: those usage records stand in for the owner's.
When the owner reports after all (it was stalled, not dead), its own figures replace them;
the text and status stay as they were decided first.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations import repository
from api.conversations.events import (
    MessageCompleted,
    MessageFailed,
    SessionEnded,
    SessionEvent,
    channel_of,
)
from api.conversations.models import Message, MessageStatus, Session
from api.db.base import utcnow
from api.db.session import after_commit
from api.events.broker import Broker
from api.llm.base import Usage, estimate_tokens
from api.llm.resilience import AttemptFailed
from api.ops import metrics
from api.ops import service as ops
from api.ops.models import ErrorEvent
from api.usage import service as usage
from api.usage.models import CostAlert
from api.usage.pricing import PriceTable
from api.usage.rollup import SessionDimensions
from api.usage.service import BilledCall

log = logging.getLogger("practicum.replies")

UNAVAILABLE = "The client is unavailable right now — your message is saved; try again in a minute."
INTERRUPTED = "The reply was interrupted — your message is saved; try again."
# Why a reply was interrupted, for the error log.
SHUT_DOWN = "The server stopped while the reply was streaming."
OWNER_LOST = (
    "The process streaming the reply stopped renewing its lease (it crashed or was killed); "
    "another process interrupted the reply."
)


@dataclass
class ReplyOutcome:
    """How a reply ended, ready to be stored."""

    status: MessageStatus
    text: str
    calls: list[BilledCall]
    failures: list[AttemptFailed]
    is_fallback: bool = False
    reason: str | None = None  # for the student, when the reply did not complete
    interruption: str | None = None  # for the error log, when it was INTERRUPTED
    leaked_chars: int | None = None  # the reply leaked its prompt: replaced by a deflection
    stands_in: bool = False  # estimated by a process that was not streaming the reply

    @property
    def text_call(self) -> BilledCall | None:
        """The model call that produced the stored text (earlier attempts were thrown
        away, so their tokens are billed but are not this message's)."""
        for call in reversed(self.calls):
            if call.outcome == self.status.value:
                return call
        return None


@dataclass(frozen=True)
class Ending:
    """A reply and how it ended."""

    message_id: uuid.UUID
    session_id: uuid.UUID
    dimensions: SessionDimensions  # whose session: for the usage records and the rollup
    outcome: ReplyOutcome
    request_id: str | None = None  # of the request that asked for the reply, for the logs
    stream_started: datetime | None = None  # which stream of the reply (it may be retried)


def orphan_outcome(
    reply: Message, conversation: Session, status: MessageStatus, provider: str, cause: str | None
) -> ReplyOutcome:
    """The outcome of a reply no process here is streaming (its owner died, or it streams
    elsewhere): the text its owner last stored, and the call it had sent billed as its whole
    prompt plus that text, estimated (the owner recorded nothing before it ended)."""
    calls = []
    if reply.prompt_tokens is not None:
        billed = Usage(
            input_tokens=reply.prompt_tokens,
            output_tokens=estimate_tokens(reply.content),
            estimated=True,
        )
        calls.append(BilledCall(provider, conversation.model, status.value, billed, attempt=1))
    reason = INTERRUPTED if status is MessageStatus.INTERRUPTED else None
    return ReplyOutcome(
        status, reply.content, calls, [], reason=reason, interruption=cause, stands_in=True
    )


def orphan_ending(
    reply: Message, conversation: Session, status: MessageStatus, provider: str, cause: str | None
) -> Ending:
    """The ending of a reply no process here streams, standing in for its owner's."""
    return Ending(
        reply.id,
        reply.session_id,
        SessionDimensions.of(conversation),
        orphan_outcome(reply, conversation, status, provider, cause),
        stream_started=reply.streaming_since,
    )


async def store(
    session: AsyncSession, prices: PriceTable, endings: list[Ending]
) -> list[SessionEvent | CostAlert]:
    """Store how replies ended, in the caller's transaction (a few statements for any
    number of replies); returns the events to publish after commit, cost alerts included.

    A reply is stored only while the stream the ending is about is still STREAMING: an
    ending that comes second (the reply was stopped, or taken over, meanwhile) changes
    nothing and is not announced, except that an owner's own figures replace the estimates
    stored in its place (`_late_owners`)."""
    if not endings:
        return []
    # The sessions first, then their messages: the order every turn locks them in.
    await repository.lock_sessions(session, {e.session_id for e in endings})
    replies = await repository.messages_by_id(session, [e.message_id for e in endings])
    claimed = [
        (ending, replies[ending.message_id])
        for ending in endings
        if ending.message_id in replies and _still_streams(replies[ending.message_id], ending)
    ]
    taken = {id(ending) for ending, _ in claimed}
    late = [e for e in endings if e.message_id in replies and id(e) not in taken]
    alerts = await _late_owners(session, prices, late)
    if not claimed:
        return alerts
    await ops.record(session, [error for ending, _ in claimed for error in _errors(ending)])
    for ending, reply in claimed:
        _apply(reply, ending.outcome)
    alerts += await usage.record_calls(session, prices, [_bill(e) for e, _ in claimed])
    await session.flush()
    totals = await repository.sessions_by_id(session, {e.session_id for e, _ in claimed})
    stored = [reply for _, reply in claimed]
    after_commit(session, lambda: _count(stored))
    return [*(_event(e, r, totals[e.session_id]) for e, r in claimed), *alerts]


def _still_streams(reply: Message, ending: Ending) -> bool:
    """The reply streams, and (when the ending says which) it is that stream: a retry
    streams into the same message."""
    if reply.status is not MessageStatus.STREAMING:
        return False
    return ending.stream_started is None or reply.streaming_since == ending.stream_started


def _bill(ending: Ending) -> usage.Bill:
    stands_in = ending.stream_started if ending.outcome.stands_in else None
    return usage.Bill(
        ending.session_id,
        ending.dimensions,
        ending.message_id,
        ending.outcome.calls,
        stands_in_for=stands_in,
    )


async def _late_owners(
    session: AsyncSession, prices: PriceTable, late: list[Ending]
) -> list[CostAlert]:
    """Owners reporting on replies another process ended in their place: their own
    figures replace the estimates stored for their streams (text and status stay), and
    the provider errors they met go to the error log."""
    owners = [e for e in late if not e.outcome.stands_in and e.stream_started is not None]
    estimates = await usage.stand_ins(session, {(e.message_id, e.stream_started) for e in owners})
    replaced = {(r.message_id, r.stands_in_for) for r in estimates}
    owners = [e for e in owners if (e.message_id, e.stream_started) in replaced]
    if not owners:
        return []
    log.warning(
        "replies %s were ended by another process; their usage records now hold the "
        "provider's figures instead of the estimates",
        ", ".join(str(e.message_id) for e in owners),
    )
    await ops.record(session, [error for ending in owners for error in _provider_errors(ending)])
    return await usage.replace_stand_ins(session, prices, estimates, [_bill(e) for e in owners])


def _provider_errors(ending: Ending) -> list[ErrorEvent]:
    return [
        ops.provider_error_event(
            failed,
            session_id=ending.session_id,
            user_id=ending.dimensions.student_id,
            request_id=ending.request_id,
        )
        for failed in ending.outcome.failures
    ]


def _errors(ending: Ending) -> list[ErrorEvent]:
    errors = _provider_errors(ending)
    if ending.outcome.interruption is not None:
        errors.append(
            ops.interrupted_reply_event(
                ending.outcome.interruption,
                session_id=ending.session_id,
                user_id=ending.dimensions.student_id,
                message_id=ending.message_id,
                chars_kept=len(ending.outcome.text),
                request_id=ending.request_id,
            )
        )
    if ending.outcome.leaked_chars is not None:
        call = ending.outcome.text_call
        errors.append(
            ops.prompt_leak_event(
                model=call.model if call else None,
                session_id=ending.session_id,
                user_id=ending.dimensions.student_id,
                message_id=ending.message_id,
                leaked_chars=ending.outcome.leaked_chars,
                request_id=ending.request_id,
            )
        )
    return errors


def _count(replies: list[Message]) -> None:
    for reply in replies:
        metrics.REPLIES.labels(reply.status.value).inc()


def _event(ending: Ending, reply: Message, conversation: Session) -> SessionEvent:
    if reply.status is MessageStatus.FAILED or reply.status is MessageStatus.INTERRUPTED:
        return MessageFailed(reply, ending.outcome.reason or UNAVAILABLE, retryable=True)
    return MessageCompleted(reply, conversation)


def _apply(reply: Message, outcome: ReplyOutcome) -> None:
    reply.status = outcome.status
    reply.content = outcome.text
    reply.is_fallback = outcome.is_fallback
    reply.completed_at = utcnow()
    reply.streaming_since = None
    reply.lease_owner = reply.lease_expires_at = reply.prompt_tokens = None
    call = outcome.text_call
    if call is None and not outcome.text:
        reply.token_count, reply.token_count_estimated = None, False
    elif call is None:  # no model call counted this text (say, a fallback reply)
        reply.token_count, reply.token_count_estimated = estimate_tokens(outcome.text), True
    else:
        reply.token_count = call.usage.output_tokens
        reply.token_count_estimated = call.usage.estimated


@dataclass
class _Pending:
    ending: Ending
    stored: asyncio.Future = field(repr=False)


class ReplyOutcomes:
    """The one way back for a reply: stores endings (`store`) and publishes their events,
    in the caller's transaction (`record`) or in one of its own (`settle`)."""

    def __init__(
        self,
        broker: Broker,
        sessions: Callable[[], AsyncSession],
        prices: PriceTable,
        *,
        lease_seconds: float = 6.0,
    ) -> None:
        self.broker = broker
        self.sessions = sessions
        self.prices = prices
        self.lease_seconds = lease_seconds
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task | None = None
        self._storing: dict[uuid.UUID, list[SessionEvent]] = {}  # session id: publish after

    async def record(self, session: AsyncSession, endings: list[Ending]) -> None:
        """Store in the caller's transaction; the events go out once it has committed."""
        events = await store(session, self.prices, endings)
        after_commit(session, lambda: self.publish_all(events))

    async def settle(self, ending: Ending) -> bool:
        """Store in a transaction of its own, then publish; returns whether this ending
        decided the reply's outcome (not one that came second). Endings that arrive while
        others are being written are stored together, in one transaction, by one writer."""
        stored = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(ending, stored))
        self._storing.setdefault(ending.session_id, [])
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="store-replies")
        return await asyncio.shield(stored)

    async def bill(self, ending: Ending) -> None:
        """Record the calls of a reply whose message was never stored, against its session
        alone (in a transaction of its own): nothing is announced but cost alerts."""
        if not ending.outcome.calls:
            return
        bill = usage.Bill(ending.session_id, ending.dimensions, None, ending.outcome.calls)
        async with self.sessions() as db:
            alerts = await usage.record_calls(db, self.prices, [bill])
            await db.commit()
        self.publish_all(alerts)

    async def settle_all(self, endings: list[Ending]) -> None:
        if endings:
            await asyncio.gather(*(self.settle(ending) for ending in endings))

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            endings = [item.ending for item in batch]
            try:
                events = await self._write(endings)
            except Exception:
                events = await self._write_one_by_one(endings)
            self.publish_all(events)
            for ending in endings:
                for event in self._storing.pop(ending.session_id, []):
                    self.publish(event)
            told = {e.message.id for e in events if isinstance(e, MessageCompleted | MessageFailed)}
            for item in batch:
                item.stored.set_result(item.ending.message_id in told)

    async def _write(self, endings: list[Ending]) -> list[SessionEvent | CostAlert]:
        async with self.sessions() as db:
            events = await store(db, self.prices, endings)
            await db.commit()
        return events

    async def _write_one_by_one(self, endings: list[Ending]) -> list[SessionEvent | CostAlert]:
        """After a failed batch, so that one bad outcome does not lose the others."""
        events: list[SessionEvent | CostAlert] = []
        for ending in endings:
            try:
                events += await self._write([ending])
            except Exception:
                # Left STREAMING, the reply's lease runs out and a sweep interrupts it
                # (retryable); the student's message is stored already.
                log.exception("could not store the outcome of reply %s", ending.message_id)
        return events

    def publish(self, event: SessionEvent | CostAlert) -> None:
        self.broker.publish(channel_of(event), event)

    def publish_all(self, events: list[SessionEvent | CostAlert]) -> None:
        for event in events:
            self.publish(event)

    def publish_after_reply(self, event: SessionEnded) -> None:
        """Publish now, or, while the session's reply is being stored, right after it."""
        waiting = self._storing.get(event.session.id)
        if waiting is not None:
            waiting.append(event)
        else:
            self.publish(event)

    # Replies whose owner is gone -------------------------------------------------------

    async def take_over(
        self,
        read_sessions: Callable[[], AsyncSession],
        provider_of: Callable[[str], str],
        alive: Callable[[Message], bool],
    ) -> int:
        """Interrupt the replies whose lease ran out (their process stopped renewing it):
        kept with the text streamed so far, billed as estimated, announced. `alive` says
        which of them this process is still streaming (a late heartbeat; left alone).
        Returns how many this process stored."""
        now = utcnow()
        async with read_sessions() as db:
            lost = await repository.lost_replies(db, now, self._legacy_cutoff(now))
        lost = [reply for reply in lost if not alive(reply)]
        if not lost:
            return 0
        async with self.sessions() as db:
            conversations = await repository.sessions_by_id(db, {r.session_id for r in lost})
            replies = await repository.messages_by_id(db, [r.id for r in lost])
            endings = [
                orphan_ending(
                    reply,
                    conversation := conversations[reply.session_id],
                    MessageStatus.INTERRUPTED,
                    provider_of(conversation.model),
                    OWNER_LOST,
                )
                for reply in replies.values()
            ]
            events = await store(db, self.prices, endings)
            await db.commit()
        self.publish_all(events)
        count = sum(isinstance(event, MessageFailed) for event in events)
        if count:
            log.warning("interrupted %d replies whose process stopped streaming them", count)
        return count

    def _legacy_cutoff(self, now: datetime) -> datetime:
        """A STREAMING reply stored with no lease (before leases existed) is lost once it
        has streamed this long without an owner."""
        return now - timedelta(seconds=self.lease_seconds)
