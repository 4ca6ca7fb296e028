"""A finished session with a completed evaluation against a two-criterion rubric, stored
directly (the evaluators themselves are tested by feedback-core's tests)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.conversations.models import Session
from api.db.base import utcnow
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    EvaluationStatus,
    EvaluatorKind,
    Rubric,
    RubricStatus,
    RubricVersion,
)

LEVELS = [
    {"level": 1, "descriptor": "Not yet"},
    {"level": 2, "descriptor": "Beginning"},
    {"level": 3, "descriptor": "Developing"},
    {"level": 4, "descriptor": "Secure"},
]
CRITERIA = [
    {
        "key": "open_questions",
        "name": "Open questions",
        "description": "Invites the client to say more.",
        "weight": "2",
        "levels": LEVELS,
    },
    {
        "key": "reflections",
        "name": "Reflections",
        "description": "Says back what the client feels.",
        "weight": "1",
        "levels": LEVELS,
    },
]
STRENGTH = "You let the client set the pace."
NEXT_STEP = "Try a reflection before your next question."


@dataclass
class Evaluated:
    rubric: Rubric
    version: RubricVersion
    evaluation: Evaluation


async def make_rubric(db: AsyncSession, teacher: User, name: str = "Counselling") -> Rubric:
    rubric = Rubric(
        owner_id=teacher.id,
        name=name,
        description="",
        status=RubricStatus.PUBLISHED,
        published_at=utcnow(),
    )
    db.add(rubric)
    await db.flush()
    db.add(RubricVersion(rubric_id=rubric.id, version=1, criteria=CRITERIA))
    await db.commit()
    return rubric


async def evaluate(
    db: AsyncSession,
    conversation: Session,
    teacher: User,
    levels: tuple[int, int] = (2, 3),
    *,
    quote: tuple[int, str] | None = None,
    rubric: Rubric | None = None,
    released: bool = False,
    evaluator: EvaluatorKind = EvaluatorKind.OFFLINE,
) -> Evaluated:
    """A COMPLETED evaluation of `conversation` (levels for open questions, reflections);
    `quote`: (sequence number, words) cited as evidence for open questions."""
    rubric = rubric or await make_rubric(db, teacher)
    from sqlalchemy import select

    version = await db.scalar(select(RubricVersion).where(RubricVersion.rubric_id == rubric.id))
    now = utcnow()
    evaluation = Evaluation(
        session_id=conversation.id,
        rubric_version_id=version.id,
        status=EvaluationStatus.COMPLETED,
        evaluator=evaluator,
        model=None if evaluator is EvaluatorKind.OFFLINE else "claude-haiku-4-5",
        strengths=[STRENGTH],
        next_steps=[NEXT_STEP],
        cost=Decimal("0.0021") if evaluator is EvaluatorKind.AI else Decimal(0),
        started_at=now,
        completed_at=now,
        released_at=now if released else None,
        released_by_id=teacher.id if released else None,
    )
    db.add(evaluation)
    await db.flush()
    evidence = [{"sequence_number": quote[0], "quote": quote[1]}] if quote else []
    db.add_all(
        [
            CriterionScore(
                evaluation_id=evaluation.id,
                criterion_key="open_questions",
                position=0,
                level=levels[0],
                justification="Asked two open questions.",
                evidence=evidence,
            ),
            CriterionScore(
                evaluation_id=evaluation.id,
                criterion_key="reflections",
                position=1,
                level=levels[1],
                justification="One reflection of feeling.",
                evidence=[],
            ),
        ]
    )
    await db.commit()
    return Evaluated(rubric, version, evaluation)
