"""Rubrics, conversation measures and evaluations (feedback) in GraphQL.

Everything an evaluation says (levels, justifications, evidence, strengths, next steps)
is generated, by a language model or by the offline evaluator: it is advisory, for a
teacher to review, never a grade.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from decimal import Decimal

import strawberry

from api.accounts.security import Actor
from api.graphql.accounts import User
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection
from api.graphql.subscriptions import while_allowed
from api.teaching import live, models, review, service
from api.teaching import repository as teaching_repository
from api.teaching.measures import Measures

RubricStatus = strawberry.enum(models.RubricStatus, name="RubricStatus")
EvaluationStatus = strawberry.enum(
    models.EvaluationStatus,
    name="EvaluationStatus",
    description="QUEUED → RUNNING → COMPLETED, or FAILED (retryable with evaluateSession).",
)
EvaluatorKind = strawberry.enum(
    models.EvaluatorKind,
    name="EvaluatorKind",
    description="AI: a language model's structured answer, validated against the transcript. "
    "OFFLINE: deterministic, from the conversation measures, with no model.",
)

ADVISORY = "Advisory: generated feedback for a teacher to review, not a grade. "


@strawberry.type(description="One level of a criterion and what it looks like.")
class RubricLevel:
    level: int
    descriptor: str


@strawberry.type
class RubricCriterion:
    key: str = strawberry.field(
        description="Names the criterion within its rubric, across versions while its name "
        "stays the same."
    )
    name: str
    description: str
    weight: Decimal = strawberry.field(description="Positive; the weights need not sum to 1.")
    levels: list[RubricLevel] = strawberry.field(description="Lowest first.")

    @classmethod
    def from_json(cls, criterion: dict) -> RubricCriterion:
        return cls(
            key=criterion["key"],
            name=criterion["name"],
            description=criterion["description"],
            weight=Decimal(criterion["weight"]),
            levels=[
                RubricLevel(level=lv["level"], descriptor=lv["descriptor"])
                for lv in criterion["levels"]
            ],
        )


@strawberry.type(description="A rubric's criteria as they were at one time.")
class RubricVersion:
    id: strawberry.ID
    rubric_id: strawberry.ID
    version: int
    criteria: list[RubricCriterion]
    created_at: datetime

    @classmethod
    def from_model(cls, version: models.RubricVersion) -> RubricVersion:
        return cls(
            id=to_id(version.id),
            rubric_id=to_id(version.rubric_id),
            version=version.version,
            criteria=[RubricCriterion.from_json(c) for c in version.criteria],
            created_at=version.created_at,
        )


@strawberry.type(
    description="Criteria that sessions are evaluated against. Editing one that already has "
    "evaluations makes a new version; the old evaluations keep theirs."
)
class Rubric:
    id: strawberry.ID
    name: str
    description: str
    status: RubricStatus
    version: int = strawberry.field(description="The current version's number.")
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    owner_id: strawberry.Private[uuid.UUID]
    rubric: strawberry.Private[models.Rubric]

    @strawberry.field
    async def owner(self, info: Info) -> User | None:
        user = await info.context.loaders.users.load(self.owner_id)
        return User.from_model(user) if user else None

    @strawberry.field(description="The current version's criteria.")
    async def criteria(self, info: Info) -> list[RubricCriterion]:
        version = await service.current_version(info.context.session, self.rubric)
        return [RubricCriterion.from_json(c) for c in version.criteria]

    @strawberry.field
    async def current_version(self, info: Info) -> RubricVersion:
        return RubricVersion.from_model(
            await service.current_version(info.context.session, self.rubric)
        )

    @strawberry.field(description="Every version, oldest first.")
    async def versions(self, info: Info) -> list[RubricVersion]:
        versions = await service.rubric_versions(info.context.session, self.rubric)
        return [RubricVersion.from_model(v) for v in versions]

    @classmethod
    def from_model(cls, rubric: models.Rubric) -> Rubric:
        return cls(
            id=to_id(rubric.id),
            name=rubric.name,
            description=rubric.description,
            status=rubric.status,
            version=rubric.current_version,
            published_at=rubric.published_at,
            created_at=rubric.created_at,
            updated_at=rubric.updated_at,
            owner_id=rubric.owner_id,
            rubric=rubric,
        )


@strawberry.type(
    description="What the student did, counted from the transcript with no model "
    "(deterministic; the method is described in the README). Null for an active session."
)
class ConversationMeasures:
    student_messages: int
    client_messages: int
    student_words: int
    client_words: int
    open_questions: int = strawberry.field(
        description="The student's questions that invite a full answer (what, how, tell me…)."
    )
    closed_questions: int = strawberry.field(
        description="The student's other questions (do you, is it, have you…)."
    )
    reflections: int = strawberry.field(
        description="Reflection-like statements (it sounds like, you feel, so you…)."
    )
    talk_share: Decimal | None = strawberry.field(
        description="The student's words over all words, 0 to 1 (three places)."
    )
    mean_student_message_words: Decimal | None
    mean_student_message_chars: Decimal | None
    median_turn_gap_seconds: Decimal | None = strawberry.field(
        description="Median time from a client's reply to the student's next message."
    )
    method_version: int

    @classmethod
    def of(cls, measures: Measures) -> ConversationMeasures:
        gap = measures.median_turn_gap_ms
        return cls(
            student_messages=measures.student_messages,
            client_messages=measures.client_messages,
            student_words=measures.student_words,
            client_words=measures.client_words,
            open_questions=measures.open_questions,
            closed_questions=measures.closed_questions,
            reflections=measures.reflections,
            talk_share=measures.talk_share,
            mean_student_message_words=measures.mean_student_words,
            mean_student_message_chars=measures.mean_student_chars,
            median_turn_gap_seconds=None if gap is None else Decimal(gap) / 1000,
            method_version=measures.method_version,
        )


@strawberry.type(description="A quote from the transcript, found verbatim in the message it cites.")
class EvidenceQuote:
    sequence_number: int = strawberry.field(description="The cited message's sequenceNumber.")
    quote: str


@strawberry.type(description=ADVISORY + "The level given for one criterion, why, and the evidence.")
class CriterionScore:
    criterion_key: str
    criterion_name: str
    level: int = strawberry.field(
        description="The level that counts: the teacher's adjusted level when there is one, "
        "else the evaluator's."
    )
    evaluator_level: int = strawberry.field(
        description="The level the evaluator (AI or offline) gave; never overwritten."
    )
    adjusted_level: int | None = strawberry.field(
        description="A teacher's level, kept beside the evaluator's (null: not adjusted)."
    )
    adjusted_at: datetime | None
    max_level: int = strawberry.field(description="The criterion's highest level.")
    weight: Decimal
    justification: str
    evidence: list[EvidenceQuote]
    adjusted_by_id: strawberry.Private[uuid.UUID | None] = None

    @strawberry.field(description="Who adjusted the level (teachers and admins see it).")
    async def adjusted_by(self, info: Info) -> User | None:
        if self.adjusted_by_id is None:
            return None
        user = await info.context.loaders.users.load(self.adjusted_by_id)
        return User.from_model(user) if user else None


@strawberry.type(
    description=ADVISORY
    + "An evaluation of a completed session against a rubric version. Scores exist only "
    "once COMPLETED; a FAILED evaluation has none and can be asked for again."
)
class Evaluation:
    id: strawberry.ID
    session_id: strawberry.ID
    status: EvaluationStatus
    evaluator: EvaluatorKind
    model: str | None = strawberry.field(description="The model that evaluated (AI only).")
    advisory: bool = strawberry.field(
        default=True, description="Always true: generated feedback is advice, not a grade."
    )
    strengths: list[str]
    next_steps: list[str]
    error: str | None = strawberry.field(description="Why it FAILED, for teachers.")
    retryable: bool
    attempts: int = strawberry.field(description="Model answers asked for (AI).")
    input_tokens: int
    output_tokens: int
    total_tokens: int
    estimated_cost: Decimal = strawberry.field(description="US dollars, exact.")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    released_at: datetime | None = strawberry.field(
        description="When a teacher released it to the student."
    )
    evaluation_id: strawberry.Private[uuid.UUID]
    rubric_version_id: strawberry.Private[uuid.UUID]

    async def _version(self, info: Info) -> models.RubricVersion | None:
        return await _load(info, "rubric_versions", self.rubric_version_id)

    @strawberry.field
    async def rubric_version(self, info: Info) -> RubricVersion | None:
        version = await self._version(info)
        return RubricVersion.from_model(version) if version else None

    @strawberry.field(description="The rubric's name (students do not see rubrics themselves).")
    async def rubric_name(self, info: Info) -> str | None:
        version = await self._version(info)
        if version is None:
            return None
        rubric = await _load(info, "rubrics", version.rubric_id)
        return rubric.name if rubric else None

    @strawberry.field(description="One per criterion, in the rubric's order (when COMPLETED).")
    async def scores(self, info: Info) -> list[CriterionScore]:
        scores = await _load(info, "scores", self.evaluation_id)
        version = await self._version(info)
        criteria = {c["key"]: c for c in (version.criteria if version else [])}
        return [_score(score, criteria.get(score.criterion_key)) for score in scores]

    @strawberry.field(
        description="The criteria's levels weighted by their weights, over the highest "
        "possible, 0 to 1 (three places); null until COMPLETED."
    )
    async def overall_score(self, info: Info) -> Decimal | None:
        scores = await _load(info, "scores", self.evaluation_id)
        version = await self._version(info)
        if not scores or version is None:
            return None
        return review.overall(version, scores)

    @classmethod
    def from_model(cls, evaluation: models.Evaluation) -> Evaluation:
        return cls(
            id=to_id(evaluation.id),
            session_id=to_id(evaluation.session_id),
            status=evaluation.status,
            evaluator=evaluation.evaluator,
            model=evaluation.model,
            strengths=list(evaluation.strengths or []),
            next_steps=list(evaluation.next_steps or []),
            error=evaluation.error,
            retryable=evaluation.retryable,
            attempts=evaluation.attempts,
            input_tokens=evaluation.input_tokens,
            output_tokens=evaluation.output_tokens,
            total_tokens=evaluation.input_tokens
            + evaluation.output_tokens
            + evaluation.cache_write_tokens
            + evaluation.cache_read_tokens,
            estimated_cost=evaluation.cost,
            created_at=evaluation.created_at,
            started_at=evaluation.started_at,
            completed_at=evaluation.completed_at,
            released_at=evaluation.released_at,
            evaluation_id=evaluation.id,
            rubric_version_id=evaluation.rubric_version_id,
        )


async def _load(info: Info, loader: str, key: uuid.UUID):
    """Through the operation's loaders; in a subscription (no operation), on a short read
    session of its own."""
    try:
        loaders = info.context.loaders
    except LookupError:
        async with info.context.runtime.read_sessions() as db:
            if loader == "scores":
                return (await teaching_repository.scores_of(db, [key]))[key]
            model = models.RubricVersion if loader == "rubric_versions" else models.Rubric
            return await db.get(model, key)
    return await getattr(loaders.teaching, loader).load(key)


def _score(score: models.CriterionScore, criterion: dict | None) -> CriterionScore:
    levels = [lv["level"] for lv in criterion["levels"]] if criterion else [score.level]
    return CriterionScore(
        criterion_key=score.criterion_key,
        criterion_name=criterion["name"] if criterion else score.criterion_key,
        level=review.effective_level(score),
        evaluator_level=score.level,
        adjusted_level=score.adjusted_level,
        adjusted_at=score.adjusted_at,
        adjusted_by_id=score.adjusted_by_id,
        max_level=max(levels),
        weight=Decimal(criterion["weight"]) if criterion else Decimal(1),
        justification=score.justification,
        evidence=[
            EvidenceQuote(sequence_number=e["sequence_number"], quote=e["quote"])
            for e in score.evidence
        ],
    )


@strawberry.type(
    description="A session's feedback moved on: QUEUED, RUNNING, COMPLETED or FAILED. "
    "`evaluation` is null for a student until a teacher releases it."
)
class FeedbackStatusChanged:
    session_id: strawberry.ID
    evaluation_id: strawberry.ID
    status: EvaluationStatus
    evaluator: EvaluatorKind
    error: str | None
    retryable: bool
    evaluation: Evaluation | None


# Inputs and payloads


@strawberry.input
class RubricLevelInput:
    level: int = strawberry.field(description="0 to 10; listed lowest first, each once.")
    descriptor: str


@strawberry.input
class RubricCriterionInput:
    name: str
    description: str
    weight: Decimal = strawberry.field(description="A positive decimal, e.g. 1 or 0.25.")
    levels: list[RubricLevelInput]


@strawberry.input
class RubricInput:
    name: str
    criteria: list[RubricCriterionInput]
    description: str = ""


def _fields(data: RubricInput) -> service.RubricFields:
    return service.RubricFields(
        name=data.name,
        description=data.description,
        criteria=[
            service.CriterionFields(
                name=c.name,
                description=c.description,
                weight=c.weight,
                levels=[service.LevelFields(lv.level, lv.descriptor) for lv in c.levels],
            )
            for c in data.criteria
        ],
    )


@strawberry.type
class CreateRubricPayload:
    rubric: Rubric


@strawberry.type
class UpdateRubricPayload:
    rubric: Rubric
    new_version: bool = strawberry.field(
        description="True when the edit made a new version (the old one has evaluations)."
    )


@strawberry.type
class PublishRubricPayload:
    rubric: Rubric


@strawberry.type
class EvaluateSessionPayload:
    evaluation: Evaluation = strawberry.field(
        description="QUEUED; follow it on feedbackEvents or Session.evaluation."
    )


# Fields on other types (Session, Assignment) resolve through these


async def session_measures(info: Info, session_id: uuid.UUID) -> ConversationMeasures | None:
    measures = await service.measures_for(
        info.context.session, session_id, info.context.loaders.teaching.measures
    )
    return ConversationMeasures.of(measures) if measures else None


async def session_evaluation(info: Info, session_id: uuid.UUID) -> Evaluation | None:
    loaders = info.context.loaders.teaching
    if info.context.actor.is_student:
        found = await loaders.latest_released_evaluation.load(session_id)
    else:
        found = await loaders.latest_evaluation.load(session_id)
    return Evaluation.from_model(found) if found else None


async def session_evaluations(info: Info, session_id: uuid.UUID) -> list[Evaluation]:
    ctx = info.context
    found = await service.evaluations_of(ctx.session, ctx.actor, session_id)
    return [Evaluation.from_model(e) for e in found]


async def assignment_rubric(info: Info, rubric_id: uuid.UUID | None) -> Rubric | None:
    if rubric_id is None or info.context.actor.is_student:
        return None
    rubric = await info.context.loaders.teaching.rubrics.load(rubric_id)
    if rubric is None or not service.can_see_rubric(info.context.actor, rubric):
        return None
    return Rubric.from_model(rubric)


@strawberry.type
class TeachingQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Teachers: their own rubrics. Admins: all. Students: none. By name.",
    )
    async def rubrics(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Rubric]:
        ctx = info.context
        page = await service.list_rubrics(ctx.session, ctx.actor, ctx.page(first, after))
        return Connection.of(page, Rubric.from_model)

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def rubric(self, info: Info, id: strawberry.ID) -> Rubric:
        ctx = info.context
        return Rubric.from_model(await service.get_rubric(ctx.session, ctx.actor, parse_id(id)))


@strawberry.type
class TeachingMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A new rubric (DRAFT), owned by you. BAD_USER_INPUT names every problem "
        "by its field, e.g. `criteria.0.weight` or `criteria.1.levels.2.descriptor`.",
    )
    async def create_rubric(self, info: Info, input: RubricInput) -> CreateRubricPayload:
        ctx = info.context
        rubric = await service.create_rubric(ctx.session, ctx.actor, _fields(input))
        return CreateRubricPayload(rubric=Rubric.from_model(rubric))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Replace a rubric's name, description and criteria. When its current "
        "version already has evaluations, the edit becomes a new version.",
    )
    async def update_rubric(
        self, info: Info, id: strawberry.ID, input: RubricInput
    ) -> UpdateRubricPayload:
        ctx = info.context
        rubric, new_version = await service.update_rubric(
            ctx.session, ctx.actor, parse_id(id), _fields(input)
        )
        return UpdateRubricPayload(rubric=Rubric.from_model(rubric), new_version=new_version)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Make a rubric usable on assignments (publishing again changes nothing).",
    )
    async def publish_rubric(self, info: Info, id: strawberry.ID) -> PublishRubricPayload:
        ctx = info.context
        rubric = await service.publish_rubric(ctx.session, ctx.actor, parse_id(id))
        return PublishRubricPayload(rubric=Rubric.from_model(rubric))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Ask for (advisory) feedback on a completed session, against the given "
        "rubric or its assignment's, in the background: it is QUEUED at once. Its teachers "
        "and admins may; an active session, or one being evaluated already, is a CONFLICT.",
    )
    async def evaluate_session(
        self, info: Info, session_id: strawberry.ID, rubric_id: strawberry.ID | None = None
    ) -> EvaluateSessionPayload:
        ctx = info.context
        evaluation = await service.request_evaluation(
            ctx.session,
            ctx.actor,
            parse_id(session_id, "sessionId"),
            rubric_id=parse_optional_id(rubric_id, "rubricId"),
            settings=ctx.settings,
            queue=ctx.runtime.evaluations,
        )
        return EvaluateSessionPayload(evaluation=Evaluation.from_model(evaluation))


def _event(event: live.FeedbackEvent, actor: Actor) -> FeedbackStatusChanged:
    evaluation = event.evaluation
    shown = not actor.is_student or evaluation.released_at is not None
    return FeedbackStatusChanged(
        session_id=to_id(evaluation.session_id),
        evaluation_id=to_id(evaluation.id),
        status=evaluation.status,
        evaluator=evaluation.evaluator,
        error=evaluation.error if not actor.is_student else None,
        retryable=evaluation.retryable,
        evaluation=Evaluation.from_model(evaluation) if shown else None,
    )


@strawberry.type
class TeachingSubscriptions:
    @strawberry.subscription(
        description="A session's feedback as it progresses (FeedbackStatusChanged), for "
        "whoever may see the session: first its latest evaluation's status, if it has one, "
        "then every change, until unsubscribed."
    )
    async def feedback_events(
        self, info: Info, session_id: strawberry.ID
    ) -> AsyncGenerator[FeedbackStatusChanged, None]:
        runtime = info.context.runtime
        watched = parse_id(session_id, "sessionId")
        latest_actor: list[Actor] = []

        def events_for(actor: Actor) -> AsyncIterator[live.FeedbackEvent]:
            latest_actor[:] = [actor]
            return live.watch_feedback(runtime.read_sessions, runtime.broker, actor, watched)

        async def still_allowed(actor: Actor) -> None:
            latest_actor[:] = [actor]
            await live.may_watch(runtime.read_sessions, actor, watched)

        async for event in while_allowed(info, events_for, still_allowed):
            yield _event(event, latest_actor[0])
