"""Replies in flight: one background task per reply streams it from the model, tells the
session's subscribers every delta, and stores how it ended.

The task never holds a database transaction while it streams. When the reply is done it
stores the text, the usage and the session totals in one transaction, then publishes the
outcome. A stopped reply is recorded by whoever stopped it (in their own transaction);
the task just ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations.events import (
    MessageDelta,
    SessionEnded,
    SessionEvent,
    channel_of,
    session_channel,
)
from api.conversations.guard import ReplyGuard, screened
from api.conversations.models import MessageStatus
from api.events.broker import Broker
from api.llm.base import ChatRequest, ErrorKind, ProviderError, TextDelta
from api.llm.resilience import (
    AttemptFailed,
    AttemptFinished,
    AttemptSent,
    AttemptStarted,
    ReplyFailed,
    ResilientStreamer,
    billed_so_far,
)
from api.usage.models import CostAlert
from api.usage.pricing import PriceTable
from api.usage.rollup import SessionDimensions
from api.usage.service import BilledCall

log = logging.getLogger("practicum.replies")
SHUTDOWN_GRACE_SECONDS = 10.0

UNAVAILABLE = "The client is unavailable right now — your message is saved; try again in a minute."
NOT_SET_UP = (
    "The client cannot answer: the connection to the language model is not set up. "
    "Your message is saved; please tell your teacher."
)
INTERRUPTED = "The reply was interrupted — your message is saved; try again."
FALLBACK_REPLY = (
    "Sorry… I've lost my train of thought. Can we pause for a moment? Ask me again in a minute."
)


@dataclass(frozen=True)
class ReplyJob:
    session_id: uuid.UUID
    message_id: uuid.UUID
    dimensions: SessionDimensions  # whose session: for the usage records and the rollup
    request: ChatRequest
    request_id: str | None = None  # of the request that asked for it, for the logs


@dataclass
class ReplyOutcome:
    """How a reply ended, ready to be stored."""

    status: MessageStatus
    text: str
    calls: list[BilledCall]
    failures: list[AttemptFailed]
    is_fallback: bool = False
    reason: str | None = None  # for the student, when the reply did not complete
    leaked_chars: int | None = None  # the reply leaked its prompt: replaced by a deflection

    @property
    def text_call(self) -> BilledCall | None:
        """The model call that produced the stored text (earlier attempts were thrown
        away, so their tokens are billed but are not this message's)."""
        for call in reversed(self.calls):
            if call.outcome == self.status.value:
                return call
        return None


class _State(Enum):
    STREAMING = "streaming"
    STOPPING = "stopping"  # someone stopped it and will record it
    FINISHING = "finishing"  # the task is storing the outcome


@dataclass
class Reply:
    """A reply being generated, as this process knows it."""

    job: ReplyJob
    started: float = field(default_factory=time.monotonic)
    state: _State = _State.STREAMING
    task: asyncio.Task | None = None
    parts: list[str] = field(default_factory=list)
    length: int = 0
    current: AttemptSent | AttemptStarted | None = None  # the call under way, not billed yet
    ttft_ms: int | None = None
    calls: list[BilledCall] = field(default_factory=list)
    failures: list[AttemptFailed] = field(default_factory=list)
    then: list[SessionEvent] = field(default_factory=list)  # to publish after its outcome

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def _elapsed_ms(self, since: float) -> int:
        return int((time.monotonic() - since) * 1000)

    def on_event(self, event) -> MessageDelta | None:
        """Track one event of the stream; returns the delta subscribers must hear."""
        job = self.job
        if isinstance(event, TextDelta):
            if self.ttft_ms is None:
                self.ttft_ms = self._elapsed_ms(self.started)
            delta = MessageDelta(job.session_id, job.message_id, self.length, event.text)
            self.parts.append(event.text)
            self.length += len(event.text)
            return delta
        if isinstance(event, AttemptSent | AttemptStarted):
            self.current = event
        elif isinstance(event, AttemptFinished):
            self._bill(event.provider, event.model, "COMPLETE", event.usage, event.attempt)
            self.current = None
        elif isinstance(event, AttemptFailed):
            return self._on_failed_attempt(event)
        return None

    def _on_failed_attempt(self, failed: AttemptFailed) -> MessageDelta | None:
        self.failures.append(failed)
        if failed.billed is not None:
            outcome = "RETRIED" if failed.will_retry else "FAILED"
            self._bill(failed.provider, failed.model, outcome, failed.billed, failed.attempt)
        self.current = None
        if failed.will_retry and self.length:
            # Never splice two attempts into one garbled answer: start the text over.
            self.parts, self.length, self.ttft_ms = [], 0, None
            return MessageDelta(self.job.session_id, self.job.message_id, 0, "", reset=True)
        return None

    def _bill(self, provider: str, model: str, outcome: str, usage, attempt: int) -> None:
        self.calls.append(
            BilledCall(
                provider=provider,
                model=model,
                outcome=outcome,
                usage=usage,
                attempt=attempt,
                ttft_ms=self.ttft_ms,
                latency_ms=self._elapsed_ms(self.started),
            )
        )

    def cut_short(self, status: MessageStatus) -> ReplyOutcome:
        """The outcome of a reply stopped mid-stream: billed for what was generated (for
        the whole prompt, estimated, when the provider had not said anything yet)."""
        if self.current is not None:
            usage = billed_so_far(self.current.usage, self.text, None)
            current = self.current
            self._bill(current.provider, current.model, status.value, usage, current.attempt)
            self.current = None
        reason = INTERRUPTED if status is MessageStatus.INTERRUPTED else None
        return ReplyOutcome(status, self.text, self.calls, self.failures, reason=reason)

    def completed(self) -> ReplyOutcome:
        return ReplyOutcome(MessageStatus.COMPLETE, self.text, self.calls, self.failures)

    def failed(self, error: ProviderError, *, fallback: bool) -> ReplyOutcome:
        if fallback:
            return ReplyOutcome(
                MessageStatus.COMPLETE, FALLBACK_REPLY, self.calls, self.failures, is_fallback=True
            )
        not_set_up = error.kind in (ErrorKind.AUTH, ErrorKind.UNAVAILABLE)
        reason = NOT_SET_UP if not_set_up else UNAVAILABLE
        return ReplyOutcome(MessageStatus.FAILED, "", self.calls, self.failures, reason=reason)


Finished = tuple[ReplyJob, ReplyOutcome]
StoreOutcomes = Callable[
    [AsyncSession, PriceTable, list[Finished]], Awaitable[list[SessionEvent | CostAlert]]
]


class ReplyEngine:
    """Runs this process's replies. `store` records outcomes in the transaction it is given
    and returns the events to publish once it has committed (the conversations service
    provides it)."""

    def __init__(
        self,
        streamer: ResilientStreamer,
        broker: Broker,
        sessions: Callable[[], AsyncSession],
        store: StoreOutcomes,
        prices: PriceTable,
        *,
        stream_timeout: float,
        fallback_reply: bool,
    ) -> None:
        self.streamer = streamer
        self.broker = broker
        self.sessions = sessions
        self.store = store
        self.prices = prices
        self.stream_timeout = stream_timeout
        self.fallback_reply = fallback_reply
        self._replies: dict[uuid.UUID, Reply] = {}  # by session id: one per session
        self._to_store: list[tuple[Finished, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    def start(self, job: ReplyJob) -> None:
        """Begin streaming (call only once the STREAMING message is committed)."""
        reply = Reply(job)
        self._replies[job.session_id] = reply
        reply.task = asyncio.create_task(self._run(reply), name=f"reply-{job.message_id}")

    def in_flight(self, session_id: uuid.UUID) -> Reply | None:
        return self._replies.get(session_id)

    def snapshot(self, session_id: uuid.UUID) -> MessageDelta | None:
        """The reply so far, for a subscriber that joins mid-reply."""
        reply = self._replies.get(session_id)
        if reply is None or reply.state is not _State.STREAMING:
            return None
        job = reply.job
        return MessageDelta(job.session_id, job.message_id, 0, reply.text, reset=True)

    async def stop(
        self, session_id: uuid.UUID, status: MessageStatus = MessageStatus.CANCELLED
    ) -> ReplyOutcome | None:
        """Stop the session's reply at once. Returns its outcome for the caller to store, or
        None when no reply is streaming here (or it is already being stored)."""
        reply = self._replies.get(session_id)
        if reply is None or reply.state is not _State.STREAMING or reply.task is None:
            return None
        reply.state = _State.STOPPING
        reply.task.cancel()
        await asyncio.wait([reply.task])  # the stream's `finally` closes the upstream call
        self._replies.pop(session_id, None)
        return screened(reply.job.request, reply.cut_short(status))

    async def _run(self, reply: Reply) -> None:
        job = reply.job
        channel = session_channel(job.session_id)
        guard = ReplyGuard(job.request)  # the leak rule, on every delta and at the end
        try:
            async with asyncio.timeout(self.stream_timeout):
                async with contextlib.aclosing(self.streamer.stream(job.request)) as stream:
                    async for event in stream:
                        delta = reply.on_event(event)
                        if delta is not None and not guard.passes(delta):
                            break  # closes the upstream call
                        if delta is not None:
                            self.broker.publish(channel, delta)
            if guard.leaked and reply.current is not None:  # cut off mid-call
                outcome = reply.cut_short(MessageStatus.COMPLETE)
            else:
                outcome = reply.completed()
        except ReplyFailed as failed:
            outcome = reply.failed(failed.error, fallback=self.fallback_reply)
        except TimeoutError:
            outcome = reply.cut_short(MessageStatus.INTERRUPTED)
        except asyncio.CancelledError:
            if reply.state is _State.STOPPING:
                return  # the stopper records the outcome
            raise
        except Exception:
            log.exception("reply %s failed unexpectedly", job.message_id)
            error = ProviderError(ErrorKind.SERVER, "unexpected error")
            outcome = reply.failed(error, fallback=False)
        if guard.finished():  # the reply leaked its prompt: store the deflection instead
            outcome = guard.deflect(reply, outcome)
            self.broker.publish(channel, guard.deflection_delta(job))
        reply.state = _State.FINISHING
        try:
            await self._store(job, outcome)
        finally:
            if self._replies.get(job.session_id) is reply:
                del self._replies[job.session_id]
            for event in reply.then:
                self.publish(event)

    async def _store(self, job: ReplyJob, outcome: ReplyOutcome) -> None:
        """Store the outcome and publish its event. Outcomes that finish while others are
        being written are stored together, in one transaction, by one writer."""
        stored = asyncio.get_running_loop().create_future()
        self._to_store.append(((job, outcome), stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name="store-replies")
        await asyncio.shield(stored)

    async def _write_pending(self) -> None:
        while self._to_store:
            batch, self._to_store = self._to_store, []
            finished = [item for item, _ in batch]
            try:
                events = await self._write(finished)
            except Exception:
                events = await self._write_one_by_one(finished)
            self.publish_all(events)
            for _, stored in batch:
                stored.set_result(None)

    async def _write(self, finished: list[Finished]) -> list[SessionEvent | CostAlert]:
        async with self.sessions() as db:
            events = await self.store(db, self.prices, finished)
            await db.commit()
        return events

    async def _write_one_by_one(self, finished: list[Finished]) -> list[SessionEvent | CostAlert]:
        """After a failed batch, so that one bad outcome does not lose the others."""
        events: list[SessionEvent | CostAlert] = []
        for job, outcome in finished:
            try:
                events += await self._write([(job, outcome)])
            except Exception:
                # Left STREAMING, the reply becomes INTERRUPTED (and retryable) after the
                # stream timeout; the student's message is stored already.
                log.exception("could not store the outcome of reply %s", job.message_id)
        return events

    def publish(self, event: SessionEvent | CostAlert) -> None:
        self.broker.publish(channel_of(event), event)

    def publish_all(self, events: list[SessionEvent | CostAlert]) -> None:
        for event in events:
            self.publish(event)

    def publish_after_reply(self, event: SessionEnded) -> None:
        """Publish now, or, while the session's reply is being stored, right after it."""
        reply = self._replies.get(event.session.id)
        if reply is not None and reply.state is _State.FINISHING:
            reply.then.append(event)
        else:
            self.publish(event)

    async def shutdown(self) -> None:
        """Stop every reply and store each as INTERRUPTED (retryable), and let those being
        stored finish, so that none is left STREAMING when the process exits."""
        for session_id in list(self._replies):
            reply = self._replies.get(session_id)
            if reply is None:
                continue
            outcome = await self.stop(session_id, MessageStatus.INTERRUPTED)
            if outcome is not None:
                await self._store(reply.job, outcome)
        finishing = [r.task for r in self._replies.values() if r.task is not None]
        if self._writer is not None:
            finishing.append(self._writer)
        if finishing:
            await asyncio.wait(finishing, timeout=SHUTDOWN_GRACE_SECONDS)
