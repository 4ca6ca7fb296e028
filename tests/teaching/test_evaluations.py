"""Evaluations end to end at service level: the real engine and AnthropicProvider (the
real SDK) against the fake Anthropic server, and the offline evaluator, on SQLite and
PostgreSQL. Outcomes are read back in fresh database sessions."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from api.accounts.models import Role
from api.accounts.security import Actor
from api.config import Settings
from api.conversations import service as conversations
from api.conversations.models import Session
from api.db.base import utcnow
from api.errors import ErrorCode
from api.llm.anthropic import AnthropicProvider  # noqa: F401 - the SDK takes seconds to load
from api.runtime import Runtime
from api.teaching import service as teaching
from api.teaching.errors import TeachingError
from api.teaching.evaluator import TOOL_NAME
from api.teaching.live import FeedbackEvent, feedback_channel
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    EvaluationStatus,
    EvaluatorKind,
    SessionMeasures,
)
from api.usage import analytics, budgets
from api.usage.models import BudgetPeriod, BudgetScope, UsageKind, UsageRecord
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.factories.conversations import say
from tests.factories.teaching import make_rubric
from tests.fakes.anthropic_server import FakeAnthropic, Fault, Reply, ToolUse

HAIKU = "claude-haiku-4-5"
TRANSCRIPT = [
    (
        "Hi, I'm Sam. What brings you here today?",
        "I've been feeling really homesick since I moved into halls.",
    ),
    (
        "It sounds like the move has been harder than you expected. How is it affecting you?",
        "I don't sleep well and I skip meals. Is that normal?",
    ),
    ("Do you have friends nearby?", "Not really, everyone seems to have their group already."),
]
GOOD = {
    "criteria": [
        {
            "criterion_key": "open_questions",
            "level": 3,
            "justification": "Opens with an open question and follows with another.",
            "evidence": [
                {"sequence_number": 1, "quote": "What brings you here today?"},
                {"sequence_number": 3, "quote": "How is it affecting you?"},
            ],
        },
        {
            "criterion_key": "reflections",
            "level": 2,
            "justification": "One simple reflection of the client's difficulty.",
            "evidence": [
                {
                    "sequence_number": 3,
                    "quote": "It sounds like the move has been harder than you expected",
                }
            ],
        },
    ],
    "strengths": ["A warm, open start."],
    "next_steps": ["Reflect feelings before asking the next question."],
}


def with_criterion(answer: dict, key: str, **changes) -> dict:
    criteria = [dict(c, **changes) if c["criterion_key"] == key else c for c in answer["criteria"]]
    return {**answer, "criteria": criteria}


HALLUCINATED = with_criterion(
    GOOD,
    "reflections",
    evidence=[{"sequence_number": 3, "quote": "You must miss your family terribly"}],
)


@pytest.fixture
async def make_runtime(settings: Settings, fake_anthropic: FakeAnthropic):
    made: list[Runtime] = []

    def make(**overrides) -> Runtime:
        update = {
            "anthropic_api_key": SecretStr(fake_anthropic.api_key),
            "anthropic_base_url": fake_anthropic.url,
            "retry_base_delay_seconds": 0.01,
            "fallback_model": None,
            **overrides,
        }
        made.append(Runtime.create(settings.model_copy(update=update)))
        return made[-1]

    yield make
    for runtime in made:
        await runtime.close()


@pytest.fixture
def rt(make_runtime) -> Runtime:
    return make_runtime()


@pytest.fixture
async def offline(settings: Settings):
    runtime = Runtime.create(settings)  # no key: the offline evaluator
    yield runtime
    await runtime.close()


@dataclass
class Practice:
    rt: Runtime
    teacher: Actor
    student: Actor
    session_id: uuid.UUID
    rubric_id: uuid.UUID


async def practise(rt: Runtime, *, rubric: bool = True, end: bool = True) -> Practice:
    """A student's session (messages stored directly) in an assignment with a rubric of
    two criteria, ended through the service as endSession does."""
    async with rt.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        student = await make_user(db, Role.STUDENT)
        profile = await make_profile(db, rt.settings, teacher)
        section = await make_section(db, rt.settings, teacher, student)
        assignment = await make_assignment(db, rt.settings, teacher, section, profile)
        attached = await make_rubric(
            db, teacher, "Open questions", "Reflections", attach_to=assignment if rubric else None
        )
        conversation, _ = await conversations.start_session(
            db, actor(student), rt.settings, profile.id
        )
        await db.commit()
        for words, reply in TRANSCRIPT:
            await say(db, conversation, words, reply)
    practice = Practice(rt, actor(teacher), actor(student), conversation.id, attached.id)
    if end:
        await end_session(practice)
    return practice


async def end_session(practice: Practice) -> None:
    rt = practice.rt
    async with rt.sessions() as db:
        await conversations.end_session(
            db, practice.student, rt.replies, practice.session_id, feedback=rt.evaluations
        )
        await db.commit()


async def ask_again(practice: Practice) -> Evaluation:
    rt = practice.rt
    async with rt.sessions() as db:
        evaluation = await teaching.request_evaluation(
            db, practice.teacher, practice.session_id, settings=rt.settings, queue=rt.evaluations
        )
        await db.commit()
    return evaluation


@dataclass
class Outcome:
    evaluation: Evaluation
    scores: list[CriterionScore]
    records: list[UsageRecord]
    session: Session


async def settled(practice: Practice) -> Outcome:
    """Once the evaluations have run: the latest evaluation as stored, its scores, the
    session's usage records of kind evaluation, and the session."""
    rt = practice.rt
    async with asyncio.timeout(20):
        await rt.evaluations.wait_idle()
    async with rt.sessions() as db:
        evaluation = await db.scalar(
            select(Evaluation)
            .where(Evaluation.session_id == practice.session_id)
            .order_by(Evaluation.created_at.desc())
            .limit(1)
        )
        scores = list(
            await db.scalars(
                select(CriterionScore)
                .where(CriterionScore.evaluation_id == evaluation.id)
                .order_by(CriterionScore.position)
            )
        )
        records = list(
            await db.scalars(
                select(UsageRecord)
                .where(
                    UsageRecord.session_id == practice.session_id,
                    UsageRecord.kind == UsageKind.EVALUATION,
                )
                .order_by(UsageRecord.attempts)
            )
        )
        session = await db.get(Session, practice.session_id)
    return Outcome(evaluation, scores, records, session)


def tool_requests(fake: FakeAnthropic) -> list[dict]:
    return [r.body for r in fake.requests if r.path == "/v1/messages" and r.body.get("tools")]


def assert_totals_are_the_records(outcome: Outcome, fake: FakeAnthropic) -> None:
    billed = {b["request_id"]: b for b in fake.billed}
    tokens = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
    for name in tokens:
        stored = sum(getattr(r, name) for r in outcome.records)
        assert getattr(outcome.session, name) == stored
        assert getattr(outcome.evaluation, name) == stored
        assert stored == sum(b[name] for b in billed.values())
    price_in, price_out = Decimal(1), Decimal(5)  # Haiku 4.5, per million
    expected = sum(
        (Decimal(r.input_tokens) * price_in + Decimal(r.output_tokens) * price_out) / 1_000_000
        for r in outcome.records
    )
    assert outcome.session.estimated_cost == expected == outcome.evaluation.cost


# The model's answer


async def test_ending_a_session_gets_validated_feedback_from_claude(rt, fake_anthropic):
    fake_anthropic.enqueue(ToolUse(GOOD))
    heard: list[FeedbackEvent] = []

    practice = await practise(rt, end=False)
    async with rt.broker.subscribe(feedback_channel(practice.session_id)) as events:
        await end_session(practice)
        async with asyncio.timeout(10):
            async for event in events:
                heard.append(event)
                if event.evaluation.status is EvaluationStatus.COMPLETED:
                    break
    outcome = await settled(practice)

    assert [e.evaluation.status for e in heard] == [
        EvaluationStatus.QUEUED,
        EvaluationStatus.RUNNING,
        EvaluationStatus.COMPLETED,
    ]
    evaluation = outcome.evaluation
    assert (evaluation.evaluator, evaluation.model) == (EvaluatorKind.AI, HAIKU)
    assert (evaluation.attempts, evaluation.error) == (1, None)
    assert [(s.criterion_key, s.level) for s in outcome.scores] == [
        ("open_questions", 3),
        ("reflections", 2),
    ]
    assert outcome.scores[0].evidence == GOOD["criteria"][0]["evidence"]
    assert evaluation.next_steps == GOOD["next_steps"]
    # The request forced the tool, whose schema names the rubric's criteria and levels.
    [body] = tool_requests(fake_anthropic)
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    schema = body["tools"][0]["input_schema"]["properties"]["criteria"]["items"]["properties"]
    assert schema["criterion_key"]["enum"] == ["open_questions", "reflections"]
    assert schema["level"]["enum"] == [1, 2, 3, 4]
    prompt = body["messages"][0]["content"][0]["text"]
    assert "[3] STUDENT: It sounds like the move" in prompt
    # Billed as an evaluation, and counted in the session's totals.
    [record] = outcome.records
    assert (record.kind, record.outcome, record.message_id) == ("evaluation", "COMPLETE", None)
    assert record.evaluation_id == evaluation.id
    assert_totals_are_the_records(outcome, fake_anthropic)


async def test_a_hallucinated_quote_is_dropped_and_the_answer_asked_for_again(rt, fake_anthropic):
    fake_anthropic.enqueue(ToolUse(HALLUCINATED), ToolUse(GOOD))

    outcome = await settled(await practise(rt))

    assert outcome.evaluation.status is EvaluationStatus.COMPLETED
    assert outcome.evaluation.attempts == 2
    assert [r.outcome for r in outcome.records] == ["RETRIED", "COMPLETE"]  # both billed
    first, second = tool_requests(fake_anthropic)
    # The second request carries the rejected answer and what was wrong with it.
    assert second["messages"][0] == first["messages"][0]
    assert second["messages"][1]["content"][0]["type"] == "tool_use"
    said = second["messages"][2]["content"][0]
    assert said["type"] == "tool_result" and said["is_error"] is True
    assert "'reflections' has no quote found verbatim" in said["content"]
    assert_totals_are_the_records(outcome, fake_anthropic)


async def test_a_quote_not_in_the_cited_message_is_dropped_from_a_valid_answer(rt, fake_anthropic):
    evidence = [
        *GOOD["criteria"][0]["evidence"],
        # In the transcript, but in message 1, not 5:
        {"sequence_number": 5, "quote": "What brings you here today?"},
        {"sequence_number": 99, "quote": "no such message"},
    ]
    fake_anthropic.enqueue(ToolUse(with_criterion(GOOD, "open_questions", evidence=evidence)))

    outcome = await settled(await practise(rt))

    assert outcome.evaluation.status is EvaluationStatus.COMPLETED
    assert outcome.evaluation.attempts == 1
    assert outcome.scores[0].evidence == GOOD["criteria"][0]["evidence"]


MALFORMED = {
    "not an object": ToolUse("the student did well"),
    "criteria not a list": ToolUse({"criteria": "all good", "next_steps": ["x"]}),
    "text instead of the tool": Reply(text="Overall the student did well."),
    "unknown criterion": ToolUse(with_criterion(GOOD, "reflections", criterion_key="empathy")),
    "level out of range": ToolUse(with_criterion(GOOD, "reflections", level=7)),
    "missing criterion": ToolUse({**GOOD, "criteria": GOOD["criteria"][:1]}),
    "hallucinated quote": ToolUse(HALLUCINATED),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_an_answer_that_never_validates_fails_cleanly_and_can_be_retried(
    rt, fake_anthropic, case
):
    fake_anthropic.enqueue(*[MALFORMED[case]] * 3)

    practice = await practise(rt)
    failed = await settled(practice)

    evaluation = failed.evaluation
    assert evaluation.status is EvaluationStatus.FAILED
    assert evaluation.retryable is True
    assert evaluation.attempts == rt.settings.evaluation_max_attempts == 3
    assert "could not be checked against the transcript after 3 tries" in evaluation.error
    assert "ask for feedback again" in evaluation.error.lower()
    assert failed.scores == [] and evaluation.strengths == [] and evaluation.next_steps == []
    assert [r.outcome for r in failed.records] == ["RETRIED"] * 3  # every answer is billed
    assert_totals_are_the_records(failed, fake_anthropic)

    fake_anthropic.enqueue(ToolUse(GOOD))
    again = await ask_again(practice)
    retried = await settled(practice)
    assert retried.evaluation.id == again.id != evaluation.id
    assert retried.evaluation.status is EvaluationStatus.COMPLETED
    assert len(retried.scores) == 2


async def test_upstream_errors_are_retried_within_the_same_attempts(rt, fake_anthropic):
    fake_anthropic.enqueue(Fault.status(529), Fault.drop(), ToolUse(GOOD))

    outcome = await settled(await practise(rt))

    assert outcome.evaluation.status is EvaluationStatus.COMPLETED
    assert outcome.evaluation.attempts == 3


async def test_an_unusable_key_fails_at_once_with_what_to_do(rt, fake_anthropic):
    fake_anthropic.api_key = "another-key"

    outcome = await settled(await practise(rt))

    assert outcome.evaluation.status is EvaluationStatus.FAILED
    assert outcome.evaluation.attempts == 1
    assert "No language model is set up for feedback" in outcome.evaluation.error
    assert outcome.records == []


# Accounting


async def test_evaluation_tokens_count_in_analytics_and_budgets(rt, fake_anthropic):
    fake_anthropic.enqueue(ToolUse(HALLUCINATED), ToolUse(GOOD))
    async with rt.sessions() as db:
        admin = actor(await make_user(db, Role.ADMIN))
    practice = await practise(rt, end=False)
    async with rt.sessions() as db:
        conversation = await db.get(Session, practice.session_id)
        section_id = conversation.section_id
        fields = budgets.BudgetFields(
            scope=BudgetScope.SECTION,
            period=BudgetPeriod.DAILY,
            limit_usd="5",
            section_id=section_id,
        )
        await budgets.set_budget(db, practice.teacher, rt.settings, fields)
        await db.commit()

    await end_session(practice)
    outcome = await settled(practice)

    spent = sum((r.cost for r in outcome.records), Decimal(0))
    assert spent > 0
    async with rt.sessions() as db:
        statuses = await budgets.list_budgets(db, practice.teacher)
        [status] = [s for s in statuses if s.budget.section_id == section_id]
        assert status.spent == spent
        today = utcnow().date()
        summary = await analytics.usage_summary(db, practice.teacher, rt.settings, today, today)
        assert summary.by_kind["evaluation"].calls == 2
        assert summary.by_kind["evaluation"].cost == spent
        assert summary.by_kind["reply"].calls == 0
        assert summary.totals.cost == spent  # the rollup counts evaluations too
        whole = await analytics.usage_summary(db, admin, rt.settings, today, today)
        assert whole.by_kind["evaluation"].cost >= spent


# The offline evaluator


async def test_without_a_key_the_offline_evaluator_gives_deterministic_feedback(offline):
    first = await settled(await practise(offline))
    second = await settled(await practise(offline))

    for outcome in (first, second):
        evaluation = outcome.evaluation
        assert evaluation.status is EvaluationStatus.COMPLETED
        assert (evaluation.evaluator, evaluation.model) == (EvaluatorKind.OFFLINE, None)
        assert outcome.records == [] and evaluation.cost == 0
        assert evaluation.next_steps
        for score in outcome.scores:
            assert score.justification.startswith("Offline estimate from the conversation")
    assert [(s.criterion_key, s.level, s.evidence) for s in first.scores] == [
        (s.criterion_key, s.level, s.evidence) for s in second.scores
    ]
    # The quotes are the student's own sentences, cited where they were said.
    open_questions, reflections = first.scores
    assert {"sequence_number": 1, "quote": "What brings you here today?"} in open_questions.evidence
    assert reflections.evidence == [
        {
            "sequence_number": 3,
            "quote": "It sounds like the move has been harder than you expected.",
        }
    ]


async def test_ending_stores_the_measures_even_without_a_rubric(offline):
    practice = await practise(offline, rubric=False)
    async with offline.sessions() as db:
        measures = await db.get(SessionMeasures, practice.session_id)
        evaluations = await db.scalar(
            select(func.count()).where(Evaluation.session_id == practice.session_id)
        )
    assert (measures.student_messages, measures.client_messages) == (3, 3)
    assert (measures.open_questions, measures.closed_questions, measures.reflections) == (2, 1, 1)
    assert evaluations == 0


# Asking for an evaluation


async def test_an_active_session_cannot_be_evaluated(offline):
    practice = await practise(offline, end=False)
    async with offline.sessions() as db:
        with pytest.raises(TeachingError) as refused:
            await teaching.request_evaluation(
                db, practice.teacher, practice.session_id, settings=offline.settings
            )
    assert refused.value.code is ErrorCode.CONFLICT


async def test_a_session_being_evaluated_cannot_be_evaluated_twice(rt, fake_anthropic):
    fake_anthropic.enqueue(ToolUse(GOOD, delay=0.5))
    practice = await practise(rt)
    with pytest.raises(TeachingError) as refused:
        await ask_again(practice)
    assert refused.value.code is ErrorCode.CONFLICT
    assert (await settled(practice)).evaluation.status is EvaluationStatus.COMPLETED


async def test_any_completed_session_can_be_evaluated_against_a_chosen_rubric(offline):
    practice = await practise(offline, rubric=False)
    async with offline.sessions() as db:
        with pytest.raises(TeachingError) as refused:
            await teaching.request_evaluation(
                db, practice.teacher, practice.session_id, settings=offline.settings
            )
        assert refused.value.code is ErrorCode.BAD_USER_INPUT
        await teaching.request_evaluation(
            db,
            practice.teacher,
            practice.session_id,
            rubric_id=practice.rubric_id,
            settings=offline.settings,
            queue=offline.evaluations,
        )
        await db.commit()
    assert (await settled(practice)).evaluation.status is EvaluationStatus.COMPLETED


async def test_an_evaluation_lost_in_a_restart_fails_retryably(offline):
    practice = await practise(offline, rubric=False)
    async with offline.sessions() as db:
        evaluation = await teaching.request_evaluation(
            db,
            practice.teacher,
            practice.session_id,
            rubric_id=practice.rubric_id,
            settings=offline.settings,
        )  # no queue: nothing runs it
        evaluation.status = EvaluationStatus.RUNNING
        evaluation.started_at = utcnow() - timedelta(hours=1)
        await db.commit()

    await offline.evaluations.resume()

    outcome = await settled(practice)
    assert outcome.evaluation.status is EvaluationStatus.FAILED
    assert outcome.evaluation.retryable is True
    assert "restart" in outcome.evaluation.error
