"""Replies in flight: one background task per reply streams it from the model and tells the
session's subscribers every delta; how it ended goes to `api.conversations.outcomes`, the
one place that stores and announces a reply's outcome.

The task never holds a database transaction while it streams. Each reply is leased to this
process (`owner`): every few seconds one statement renews the leases of all its replies and
stores each one's text so far, so that when the process dies another one interrupts its
replies within seconds, keeping what the student already saw. A reply is never cut for its
age, only when its provider goes quiet.

Only the owner knows what its calls cost. A process asked to stop a reply streaming in
another one sends the owner a `StopRequested` (through the broker) and waits for it to
store the reply. An owner that finds its lease taken (it was stalled, and another process
interrupted the reply) reads its stream to the end without telling anyone, so that its
usage records get the provider's own figures instead of the estimates stored in its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations import repository
from api.conversations.events import (
    MessageCompleted,
    MessageDelta,
    MessageFailed,
    StopRequested,
    owner_channel,
    session_channel,
)
from api.conversations.guard import ReplyGuard, screened
from api.conversations.models import Message, MessageStatus
from api.conversations.outcomes import (
    INTERRUPTED,
    SHUT_DOWN,
    UNAVAILABLE,
    Ending,
    ReplyOutcome,
    ReplyOutcomes,
)
from api.db.base import utcnow
from api.events.broker import Broker, Subscription
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
from api.usage.rollup import SessionDimensions
from api.usage.service import BilledCall

log = logging.getLogger("practicum.replies")
SHUTDOWN_GRACE_SECONDS = 10.0
# How long a stop waits for the reply's owner (in another process) to store it before the
# owner's lease is checked: it answers within milliseconds unless it is stalled.
OWNER_ANSWER_SECONDS = 2.0


def process_owner_id() -> str:
    """Who streams a reply: this process (host, pid and a random part, as pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


NOT_SET_UP = (
    "The client cannot answer: the connection to the language model is not set up. "
    "Your message is saved; please tell your teacher."
)
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
    streaming_since: datetime | None = None  # when this stream of the reply began


class _State(Enum):
    STREAMING = "streaming"
    STOPPING = "stopping"  # someone stopped it and will record it
    LOST = "lost"  # its lease was taken: another process stored its outcome, estimated
    FINISHING = "finishing"  # the task is storing the outcome


@dataclass(eq=False)
class Reply:
    """A reply being generated, as this process knows it."""

    job: ReplyJob
    started: float = field(default_factory=time.monotonic)
    state: _State = _State.STREAMING
    stored: asyncio.Future | None = None  # whether its message is committed (None: it is)
    task: asyncio.Task | None = None
    parts: list[str] = field(default_factory=list)
    length: int = 0
    current: AttemptSent | AttemptStarted | None = None  # the call under way, not billed yet
    ttft_ms: int | None = None
    calls: list[BilledCall] = field(default_factory=list)
    failures: list[AttemptFailed] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def known_stored(self) -> bool:
        """Its STREAMING message is committed: it may be told about, and leased."""
        return self.stored is None or (self.stored.done() and self.stored.result())

    async def until_stored(self) -> bool:
        """Wait until its message is committed; False when it never was."""
        if self.stored is not None:
            if not await asyncio.shield(self.stored):
                return False
            self.stored = None
        return True

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
        interrupted = status is MessageStatus.INTERRUPTED
        return ReplyOutcome(
            status,
            self.text,
            self.calls,
            self.failures,
            reason=INTERRUPTED if interrupted else None,
            interruption=SHUT_DOWN if interrupted else None,
        )

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


class ReplyEngine:
    """Runs this process's replies and holds their leases. Outcomes go to `outcomes`."""

    def __init__(
        self,
        streamer: ResilientStreamer,
        broker: Broker,
        outcomes: ReplyOutcomes,
        sessions: Callable[[], AsyncSession],
        *,
        fallback_reply: bool,
        lease_seconds: float = 6.0,
        owner: str | None = None,
    ) -> None:
        self.streamer = streamer
        self.broker = broker
        self.outcomes = outcomes
        self.sessions = sessions
        self.fallback_reply = fallback_reply
        self.lease_seconds = lease_seconds
        self.owner = owner or process_owner_id()
        self.draining = False  # set on SIGTERM: no new turns here
        self._replies: dict[uuid.UUID, Reply] = {}  # by session id: one per session
        self._lost: set[Reply] = set()  # read to the end for their usage (see `heartbeat`)
        self._requests: set[asyncio.Task] = set()

    def lease_until(self):
        return utcnow() + timedelta(seconds=self.lease_seconds)

    def start(self, job: ReplyJob, stored: asyncio.Future | None = None) -> None:
        """Begin streaming. `stored`, when the STREAMING message is not committed yet, comes
        true once it is (false if it never is): until then nothing is told to anyone."""
        reply = Reply(job, stored=stored)
        self._replies[job.session_id] = reply
        reply.task = asyncio.create_task(self._run(reply), name=f"reply-{job.message_id}")

    def in_flight(self, session_id: uuid.UUID) -> Reply | None:
        return self._replies.get(session_id)

    def streams(self, message_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        """This process streams (or is storing) that reply."""
        reply = self._replies.get(session_id)
        return reply is not None and reply.job.message_id == message_id

    def snapshot(self, session_id: uuid.UUID) -> MessageDelta | None:
        """The reply so far, for a subscriber that joins mid-reply."""
        reply = self._replies.get(session_id)
        if reply is None or reply.state is not _State.STREAMING or not reply.known_stored:
            return None
        job = reply.job
        return MessageDelta(job.session_id, job.message_id, 0, reply.text, reset=True)

    async def stop(
        self, session_id: uuid.UUID, status: MessageStatus = MessageStatus.CANCELLED
    ) -> ReplyOutcome | None:
        """Stop the session's reply at once. Returns what it got to, for the caller to hand
        to the outcomes, or None when no reply is streaming here (or it is being stored)."""
        reply = self._replies.get(session_id)
        if reply is None or reply.state is not _State.STREAMING or reply.task is None:
            return None
        if not await reply.until_stored():
            return None  # its task cuts and bills it
        if reply.state is not _State.STREAMING:
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
            outcome_of = await self._stream(reply, guard, channel)
            if not await reply.until_stored():  # however it ended, a turn never stored
                await self._bill_unstored(reply)  # has no message to settle
                return
            outcome = outcome_of()
        except asyncio.CancelledError:
            if reply.state is _State.STOPPING:
                return  # the stopper records the outcome
            if reply.state is not _State.LOST:
                raise
            outcome = reply.cut_short(MessageStatus.INTERRUPTED)  # shutting down
        if guard.finished() and reply.state is not _State.LOST:  # it leaked its prompt:
            outcome = guard.deflect(reply, outcome)  # store the deflection instead
            self.broker.publish(channel, guard.deflection_delta(job))
        if reply.state is not _State.LOST:
            reply.state = _State.FINISHING
        try:
            if not await self.outcomes.settle(_ending(job, outcome)):
                # Ended elsewhere: the text so far kept for late joiners here is stale.
                self.broker.forget_reply(job.session_id, job.message_id)
        finally:
            self._lost.discard(reply)
            if self._replies.get(job.session_id) is reply:
                del self._replies[job.session_id]

    async def _stream(
        self, reply: Reply, guard: ReplyGuard, channel: str
    ) -> Callable[[], ReplyOutcome]:
        """Stream the reply, publishing its deltas once it is stored. Returns how it ended,
        told only once the caller knows the turn was stored."""
        try:
            async with contextlib.aclosing(self.streamer.stream(reply.job.request)) as stream:
                async for event in stream:
                    delta = reply.on_event(event)
                    if reply.state is _State.LOST and isinstance(event, AttemptFailed):
                        break  # no retry for a reply that was ended elsewhere
                    if delta is not None and not await reply.until_stored():
                        break  # closes the upstream call
                    if delta is not None and not guard.passes(delta):
                        break  # closes the upstream call
                    if delta is not None and reply.state is not _State.LOST:
                        self.broker.publish(channel, delta)
        except ReplyFailed as failed:
            error = failed.error  # `failed` itself is gone once the except block ends
            return lambda: reply.failed(error, fallback=self.fallback_reply)
        except Exception:
            log.exception("reply %s failed unexpectedly", reply.job.message_id)
            error = ProviderError(ErrorKind.SERVER, "unexpected error")
            return lambda: reply.failed(error, fallback=False)
        if reply.current is not None:  # cut off mid-call (a leak, or lost)
            return lambda: reply.cut_short(MessageStatus.COMPLETE)
        return reply.completed

    async def _bill_unstored(self, reply: Reply) -> None:
        """The turn was never stored (its transaction rolled back): the call begun for it
        is cut, and what it cost is recorded against the session, with no message."""
        outcome = reply.cut_short(MessageStatus.CANCELLED)
        log.info("reply %s was never stored; its call is cut", reply.job.message_id)
        try:
            await self.outcomes.bill(_ending(reply.job, outcome))
        finally:
            if self._replies.get(reply.job.session_id) is reply:
                del self._replies[reply.job.session_id]

    # Leases --------------------------------------------------------------------------

    async def heartbeat(self) -> int:
        """Renew the leases of the replies streaming here and store their text so far (one
        statement). A reply whose lease another process took (it thought this one dead) is
        no longer told to anyone; its stream is read to the end for what it cost. Returns
        how many replies are streaming here."""
        live = {
            r.job.message_id: r
            for r in self._replies.values()
            if r.state is _State.STREAMING and r.known_stored
        }
        if not live:
            return 0
        texts = {message_id: reply.text for message_id, reply in live.items()}
        async with self.sessions() as db:
            held = await repository.renew_leases(db, self.owner, self.lease_until(), texts)
            await db.commit()
        for message_id, reply in live.items():
            if message_id not in held and reply.state is _State.STREAMING and reply.task:
                log.warning(
                    "reply %s was taken over by another process; its usage is recorded "
                    "once its stream ends",
                    message_id,
                )
                reply.state = _State.LOST
                self._lost.add(reply)
                if self._replies.get(reply.job.session_id) is reply:
                    del self._replies[reply.job.session_id]
        return len(live)

    # Requests from other processes -----------------------------------------------------

    def streams_elsewhere(self, reply: Message) -> bool:
        """Another process streams the reply and can be asked to stop it: its lease has
        not run out and the broker reaches other processes."""
        return (
            self.broker.reaches_other_processes
            and reply.lease_owner is not None
            and reply.lease_owner != self.owner
            and reply.lease_expires_at is not None
            and reply.lease_expires_at > utcnow()
        )

    async def stop_elsewhere(self, reply: Message) -> None:
        """Ask the process streaming `reply` to stop it, and wait until the reply is stored
        (by its owner, with what the provider billed, or by anyone). Returns early once the
        owner's lease has run out (it died), or when, still alive, it has not answered
        within about a lease (say, it cannot hear Redis): the caller then ends the reply in
        its place, and the owner's figures replace the estimate if they come."""
        loop = asyncio.get_running_loop()
        async with self.broker.subscribe(session_channel(reply.session_id)) as events:
            request = StopRequested(reply.session_id, reply.id)
            self.broker.publish(owner_channel(reply.lease_owner), request)
            stored = asyncio.ensure_future(_stored(events, reply.id))
            give_up = loop.time() + OWNER_ANSWER_SECONDS + self.lease_seconds
            wait = OWNER_ANSWER_SECONDS
            try:
                while not (await asyncio.wait([stored], timeout=wait))[0]:
                    if loop.time() >= give_up or not await self._still_leased(reply):
                        return
                    wait = 0.25
            finally:
                stored.cancel()

    async def _still_leased(self, reply: Message) -> bool:
        async with self.sessions() as db:
            lease = await repository.lease_of(db, reply.id)
        return (
            lease is not None
            and lease.status is MessageStatus.STREAMING
            and lease.streaming_since == reply.streaming_since
            and lease.lease_expires_at is not None
            and lease.lease_expires_at > utcnow()
        )

    def listen(self) -> asyncio.Task:
        """Serve the stop requests other processes send this one (`stop_elsewhere`)."""
        requests = self.broker.subscribe(owner_channel(self.owner))
        return asyncio.create_task(self._serve(requests), name="reply-owner-requests")

    async def _serve(self, requests: Subscription) -> None:
        async with requests:
            async for request in requests:
                if isinstance(request, StopRequested):
                    task = asyncio.create_task(self._stop_requested(request))
                    self._requests.add(task)
                    task.add_done_callback(self._requests.discard)

    async def _stop_requested(self, request: StopRequested) -> None:
        reply = self._replies.get(request.session_id)
        if reply is None or reply.job.message_id != request.message_id:
            return  # ended meanwhile: its outcome is stored, or being stored
        outcome = await self.stop(request.session_id)
        if outcome is not None:
            await self.outcomes.settle(_ending(reply.job, outcome))

    # Stopping ------------------------------------------------------------------------

    async def drain(self, seconds: float) -> None:
        """Let the replies streaming here finish for up to `seconds` (no new ones start:
        see `draining`)."""
        self.draining = True
        tasks = [r.task for r in self._replies.values() if r.task is not None]
        if tasks and seconds > 0:
            await asyncio.wait(tasks, timeout=seconds)

    async def shutdown(self) -> None:
        """Stop every reply and store each as INTERRUPTED (retryable), and let those being
        stored finish, so that none is left STREAMING when the process exits."""
        stopped: list[Ending] = []
        for session_id in list(self._replies):
            reply = self._replies.get(session_id)
            if reply is None:
                continue
            outcome = await self.stop(session_id, MessageStatus.INTERRUPTED)
            if outcome is not None:
                stopped.append(_ending(reply.job, outcome))
        for lost in self._lost:  # what they cost so far is recorded as they stop
            if lost.task is not None:
                lost.task.cancel()
        finishing = [asyncio.ensure_future(self.outcomes.settle_all(stopped))]
        finishing += [r.task for r in self._replies.values() if r.task is not None]
        finishing += [r.task for r in self._lost if r.task is not None]
        finishing += self._requests
        await asyncio.wait(finishing, timeout=SHUTDOWN_GRACE_SECONDS)


def _ending(job: ReplyJob, outcome: ReplyOutcome) -> Ending:
    return Ending(
        job.message_id,
        job.session_id,
        job.dimensions,
        outcome,
        job.request_id,
        stream_started=job.streaming_since,
    )


async def _stored(events: Subscription, message_id: uuid.UUID) -> None:
    """Until the reply's outcome is announced."""
    async for event in events:
        if isinstance(event, MessageCompleted | MessageFailed) and event.message.id == message_id:
            return
