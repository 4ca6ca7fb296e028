"""Evaluations in the background: one task per evaluation, a bounded number at once.

Like a reply, an evaluation never holds a transaction while the model thinks: it is
claimed (QUEUED → RUNNING) in one short transaction, evaluated, then stored whole in
another (its scores, its model calls as usage records of kind "evaluation", the
session's totals, the budgets) — or marked FAILED with nothing half-saved. Every change
of status is published as a `FeedbackEvent` on `feedback:<session id>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.clients.models import ClientProfile
from api.config import Settings
from api.conversations.models import Session
from api.db.base import utcnow
from api.events.broker import Broker
from api.llm.base import ErrorKind, ProviderError, ToolCall, Usage
from api.llm.providers import Providers
from api.teaching import measures as measuring
from api.teaching import review
from api.teaching.evaluator import (
    SYSTEM_PROMPT,
    Criterion,
    Rejected,
    Verdict,
    offline_verdict,
    tool_definition,
    user_prompt,
    validate,
)
from api.teaching.live import FeedbackEvent, feedback_channel
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    EvaluationStatus,
    EvaluatorKind,
    RubricVersion,
)
from api.teaching.service import EvaluationQueue
from api.usage import service as usage
from api.usage.alerts import COST_ALERTS_CHANNEL
from api.usage.models import UsageKind
from api.usage.pricing import PriceTable
from api.usage.rollup import SessionDimensions
from api.usage.service import BilledCall

log = logging.getLogger("practicum.evaluations")
RETRY_DELAY_SECONDS = 1.0
STALE_AFTER = timedelta(minutes=15)

NEVER_VALID = (
    "The model's feedback could not be checked against the transcript after {n} tries "
    "({why}). Nothing was saved; ask for feedback again."
)
UNAVAILABLE = "The language model could not be reached ({why}). Ask for feedback again later."
NOT_SET_UP = "No language model is set up for feedback ({why}); tell an admin."
INTERRUPTED = "The evaluation was interrupted by a restart. Ask for feedback again."


@dataclass
class _Inputs:
    evaluation_id: uuid.UUID
    session_id: uuid.UUID
    evaluator: EvaluatorKind
    model: str | None
    criteria: list[Criterion]
    transcript: list[measuring.Said]
    measures: measuring.Measures
    client_name: str
    dimensions: SessionDimensions


@dataclass
class _Outcome:
    verdict: Verdict | None
    calls: list[BilledCall] = field(default_factory=list)
    error: str | None = None
    retryable: bool = True
    attempts: int = 0


class EvaluationEngine(EvaluationQueue):
    def __init__(
        self,
        settings: Settings,
        sessions: Callable[[], AsyncSession],
        broker: Broker,
        providers: Providers,
        prices: PriceTable,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.broker = broker
        self.providers = providers
        self.prices = prices
        self._slots = asyncio.Semaphore(settings.evaluation_concurrency)
        self._tasks: dict[uuid.UUID, asyncio.Task] = {}

    def start(self, evaluation: Evaluation) -> None:
        """Announce a QUEUED evaluation and run it (call only once it is committed)."""
        self._publish(evaluation)
        self._start(evaluation.id)

    def _start(self, evaluation_id: uuid.UUID) -> None:
        if evaluation_id in self._tasks:
            return
        task = asyncio.create_task(self._run(evaluation_id), name=f"evaluation-{evaluation_id}")
        self._tasks[evaluation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(evaluation_id, None))

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Until every evaluation started here has ended (tests, benchmarks)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def _run(self, evaluation_id: uuid.UUID) -> None:
        async with self._slots:
            try:
                if await self._offline_at_once(evaluation_id):
                    return
                inputs = await self._claim(evaluation_id)
                if inputs is None:
                    return
                outcome = await self._evaluate(inputs)
                await self._store(inputs, outcome)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("evaluation %s failed unexpectedly", evaluation_id)
                await self._fail_quietly(
                    evaluation_id, "Something went wrong on our side. Ask for feedback again."
                )

    async def _offline_at_once(self, evaluation_id: uuid.UUID) -> bool:
        """An offline evaluation takes milliseconds and no model: claimed, evaluated and
        stored in one transaction (QUEUED → COMPLETED). False when it is not offline (or
        another process has it)."""
        async with self.sessions() as db:
            inputs = await self._claimed(db, evaluation_id, only=EvaluatorKind.OFFLINE)
            if inputs is None:
                await db.rollback()
                return False
            evaluation = await db.get(Evaluation, evaluation_id)
            evaluation.completed_at = utcnow()
            _apply(
                db, evaluation, offline_verdict(inputs.criteria, inputs.measures, inputs.transcript)
            )
            await review.release_if_automatic(db, evaluation)
            await db.commit()
        self._publish(evaluation)
        return True

    async def _claim(self, evaluation_id: uuid.UUID) -> _Inputs | None:
        """QUEUED → RUNNING (only one process wins), and what the evaluation needs."""
        async with self.sessions() as db:
            inputs = await self._claimed(db, evaluation_id)
            if inputs is None:
                await db.rollback()
                return None
            await db.commit()
            self._publish(await db.get(Evaluation, evaluation_id))
        return inputs

    async def _claimed(
        self, db: AsyncSession, evaluation_id: uuid.UUID, only: EvaluatorKind | None = None
    ) -> _Inputs | None:
        """Claim (QUEUED → RUNNING, in `db`'s transaction) and read what it needs."""
        stmt = update(Evaluation).where(
            Evaluation.id == evaluation_id, Evaluation.status == EvaluationStatus.QUEUED
        )
        if only is not None:
            stmt = stmt.where(Evaluation.evaluator == only)
        claimed = await db.execute(
            stmt.values(status=EvaluationStatus.RUNNING, started_at=utcnow())
        )
        if claimed.rowcount != 1:
            return None
        evaluation = await db.get(Evaluation, evaluation_id)
        conversation = await db.get(Session, evaluation.session_id)
        version = await db.get(RubricVersion, evaluation.rubric_version_id)
        profile = await db.get(ClientProfile, conversation.client_profile_id)
        transcript = await measuring.transcript_of(db, conversation.id)
        inputs = _Inputs(
            evaluation_id=evaluation.id,
            session_id=conversation.id,
            evaluator=evaluation.evaluator,
            model=evaluation.model,
            criteria=[Criterion.of(c) for c in version.criteria],
            transcript=transcript,
            measures=measuring.compute(transcript),
            client_name=profile.name if profile else "the client",
            dimensions=SessionDimensions.of(conversation),
        )
        return inputs

    async def _evaluate(self, inputs: _Inputs) -> _Outcome:
        if inputs.evaluator is EvaluatorKind.OFFLINE:
            verdict = offline_verdict(inputs.criteria, inputs.measures, inputs.transcript)
            return _Outcome(verdict, attempts=0)
        return await self._ask_model(inputs)

    async def _ask_model(self, inputs: _Inputs) -> _Outcome:
        """Ask for the tool's answer until one validates, at most `evaluation_max_attempts`
        times; each answer is billed. A rejected answer is answered with what was wrong."""
        settings = self.settings
        model = inputs.model or settings.evaluation_model
        outcome = _Outcome(None)
        if not any(s.role.value == "USER" and s.content.strip() for s in inputs.transcript):
            outcome.error, outcome.retryable = "The student said nothing to evaluate.", False
            return outcome
        try:
            provider = self.providers.for_model(model)
        except ProviderError as error:
            outcome.error = NOT_SET_UP.format(why=error.message)
            return outcome
        if not hasattr(provider, "use_tool"):
            outcome.error = NOT_SET_UP.format(why=f"{provider.name} cannot give structured output")
            return outcome
        tool = tool_definition(inputs.criteria)
        prompt = user_prompt(inputs.criteria, inputs.transcript, inputs.client_name)
        messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        why = "no answer"
        for attempt in range(1, settings.evaluation_max_attempts + 1):
            outcome.attempts = attempt
            call = ToolCall(model, SYSTEM_PROMPT, messages, tool, settings.evaluation_max_tokens)
            started = time.monotonic()
            try:
                answer = await provider.use_tool(call)
            except ProviderError as error:
                self._bill_failure(outcome, provider.name, model, error, attempt, started)
                why = error.message
                if not error.retryable:
                    outcome.error = (
                        NOT_SET_UP if error.kind is ErrorKind.AUTH else UNAVAILABLE
                    ).format(why=why)
                    return outcome
                await asyncio.sleep(min(error.retry_after or RETRY_DELAY_SECONDS, 10.0))
                continue
            latency = round((time.monotonic() - started) * 1000)
            try:
                verdict = validate(answer.tool_input, inputs.criteria, inputs.transcript)
            except Rejected as rejected:
                outcome.calls.append(
                    BilledCall(
                        provider.name, model, "RETRIED", answer.usage, attempt, latency_ms=latency
                    )
                )
                why = str(rejected)
                log.info(
                    "evaluation %s: answer %d rejected: %s", inputs.evaluation_id, attempt, why
                )
                messages = [*messages[:1], *_correction(answer.content, why)]
                continue
            outcome.calls.append(
                BilledCall(
                    provider.name, model, "COMPLETE", answer.usage, attempt, latency_ms=latency
                )
            )
            outcome.verdict = verdict
            return outcome
        if outcome.error is None:
            outcome.error = NEVER_VALID.format(n=outcome.attempts, why=_short(why))
        return outcome

    def _bill_failure(
        self,
        outcome: _Outcome,
        provider: str,
        model: str,
        error: ProviderError,
        attempt: int,
        started: float,
    ) -> None:
        if error.usage is not None and error.usage.total_tokens:
            latency = round((time.monotonic() - started) * 1000)
            outcome.calls.append(
                BilledCall(provider, model, "FAILED", error.usage, attempt, latency_ms=latency)
            )

    async def _store(self, inputs: _Inputs, outcome: _Outcome) -> None:
        """The result, whole, in one transaction: COMPLETED with its scores, or FAILED
        with none; the model calls are billed either way."""
        async with self.sessions() as db:
            evaluation = await db.get(Evaluation, inputs.evaluation_id, with_for_update=True)
            if evaluation is None or evaluation.status is not EvaluationStatus.RUNNING:
                await db.rollback()
                return  # deleted with its session, or given up on meanwhile
            alerts = []
            if outcome.calls:
                bill = usage.Bill(
                    inputs.session_id,
                    inputs.dimensions,
                    None,
                    outcome.calls,
                    kind=UsageKind.EVALUATION,
                    evaluation_id=evaluation.id,
                )
                alerts = await usage.record_calls(db, self.prices, [bill])
                _add_usage(evaluation, outcome.calls, self.prices)
            evaluation.attempts = outcome.attempts
            evaluation.completed_at = utcnow()
            if outcome.verdict is not None:
                _apply(db, evaluation, outcome.verdict)
                await review.release_if_automatic(db, evaluation)
            else:
                evaluation.status = EvaluationStatus.FAILED
                evaluation.error = outcome.error
                evaluation.retryable = outcome.retryable
            await db.commit()
        self._publish(evaluation)
        for alert in alerts:
            self.broker.publish(COST_ALERTS_CHANNEL, alert)

    async def _fail_quietly(self, evaluation_id: uuid.UUID, reason: str) -> None:
        try:
            async with self.sessions() as db:
                evaluation = await db.get(Evaluation, evaluation_id)
                if evaluation is None or evaluation.status not in (
                    EvaluationStatus.QUEUED,
                    EvaluationStatus.RUNNING,
                ):
                    return
                evaluation.status, evaluation.error = EvaluationStatus.FAILED, reason
                evaluation.retryable, evaluation.completed_at = True, utcnow()
                await db.commit()
            self._publish(evaluation)
        except Exception:
            log.exception("could not mark evaluation %s as failed", evaluation_id)

    def _publish(self, evaluation: Evaluation) -> None:
        self.broker.publish(feedback_channel(evaluation.session_id), FeedbackEvent(evaluation))

    async def resume(self) -> int:
        """At start-up: evaluations left RUNNING by a process that stopped long ago become
        FAILED (retryable); QUEUED ones are started. Returns how many were started."""
        async with self.sessions() as db:
            cutoff = utcnow() - STALE_AFTER
            await db.execute(
                update(Evaluation)
                .where(
                    Evaluation.status == EvaluationStatus.RUNNING,
                    Evaluation.started_at < cutoff,
                )
                .values(
                    status=EvaluationStatus.FAILED,
                    error=INTERRUPTED,
                    retryable=True,
                    completed_at=utcnow(),
                )
            )
            queued = list(
                await db.scalars(
                    select(Evaluation.id).where(Evaluation.status == EvaluationStatus.QUEUED)
                )
            )
            await db.commit()
        for evaluation_id in queued:
            self._start(evaluation_id)
        return len(queued)

    async def shutdown(self) -> None:
        """Stop the evaluations under way here; each becomes FAILED (retryable)."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks.values()), timeout=5)
        for evaluation_id in tasks:
            await self._fail_quietly(evaluation_id, INTERRUPTED)


def _correction(content: list[dict], why: str) -> list[dict]:
    """The model's rejected answer and what was wrong with it, to ask again."""
    tool_use = next((b for b in content if b.get("type") == "tool_use"), None)
    if tool_use is None:
        return [
            {
                "role": "assistant",
                "content": [b for b in content if b.get("type") == "text"]
                or [{"type": "text", "text": "(no answer)"}],
            },
            {"role": "user", "content": [{"type": "text", "text": _retry_text(why)}]},
        ]
    return [
        {"role": "assistant", "content": [tool_use]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use["id"],
                    "is_error": True,
                    "content": _retry_text(why),
                }
            ],
        },
    ]


def _retry_text(why: str) -> str:
    return (
        f"That evaluation could not be used: {_short(why)}. Call record_evaluation again "
        "with every criterion, levels from each criterion's scale, and quotes copied "
        "verbatim from the message whose number they cite."
    )


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _add_usage(evaluation: Evaluation, calls: list[BilledCall], prices: PriceTable) -> None:
    for call in calls:
        used: Usage = call.usage
        evaluation.input_tokens += used.input_tokens
        evaluation.output_tokens += used.output_tokens
        evaluation.cache_write_tokens += used.cache_write_tokens
        evaluation.cache_read_tokens += used.cache_read_tokens
        evaluation.cost += prices.cost(call.model, used)


def _apply(db: AsyncSession, evaluation: Evaluation, verdict: Verdict) -> None:
    evaluation.status = EvaluationStatus.COMPLETED
    evaluation.error, evaluation.retryable = None, False
    evaluation.strengths, evaluation.next_steps = verdict.strengths, verdict.next_steps
    db.add_all(
        CriterionScore(
            evaluation_id=evaluation.id,
            criterion_key=score.key,
            position=position,
            level=score.level,
            justification=score.justification,
            evidence=score.evidence,
        )
        for position, score in enumerate(verdict.scores)
    )
