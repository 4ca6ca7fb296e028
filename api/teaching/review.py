"""A teacher's review of a session's feedback: adjusted levels, comments, release.

The AI's (or offline evaluator's) level for a criterion is never overwritten: a teacher's
adjustment is kept beside it, with who made it and when, and the level shown is the
adjusted one when there is one. Comments are on the whole session or on one message.
Students see a session's feedback (its evaluation and the teachers' comments) only once it
is released, and only on their own sessions; until then it is absent for them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.classes import service as classes
from api.classes.models import Assignment
from api.conversations import repository as conversations
from api.conversations.models import Message, Session, SessionStatus
from api.db.base import utcnow
from api.errors import FieldChecker
from api.teaching import repository, service
from api.teaching.errors import TeachingError
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    EvaluationStatus,
    ReviewComment,
    RubricVersion,
)

MAX_COMMENT_CHARS = 4000


# Reading -----------------------------------------------------------------------------------


def reviews(actor: Actor) -> bool:
    """Teachers and admins review the sessions they see; students only read."""
    return not actor.is_student


def released(evaluation: Evaluation) -> bool:
    return evaluation.released_at is not None


def student_may_read(actor: Actor, conversation: Session, evaluation: Evaluation) -> bool:
    """A student reads an evaluation only of their own session, once it is released."""
    return conversation.student_id == actor.id and released(evaluation)


async def visible_session(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool = False
) -> Session:
    found = await conversations.get_visible(session, actor, session_id, lock=lock)
    if found is None:
        raise TeachingError.not_found("Session")
    return found


async def _reviewed_session(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> Session:
    conversation = await visible_session(session, actor, session_id, lock=True)
    if not reviews(actor):
        raise TeachingError.forbidden("Only the session's teachers and admins can review it.")
    return conversation


async def _reviewed_evaluation(
    session: AsyncSession, actor: Actor, evaluation_id: uuid.UUID
) -> tuple[Evaluation, Session]:
    """An evaluation of a session the actor sees (NOT_FOUND otherwise, alike for a
    missing one), which the actor may review (FORBIDDEN for students)."""
    evaluation = await session.get(Evaluation, evaluation_id)
    conversation = None
    if evaluation is not None:
        conversation = await conversations.get_visible(session, actor, evaluation.session_id)
    if evaluation is None or conversation is None:
        raise TeachingError.not_found("Evaluation")
    if not reviews(actor):
        raise TeachingError.forbidden("Only the session's teachers and admins can review it.")
    return evaluation, conversation


def effective_level(score: CriterionScore) -> int:
    """The level shown: the teacher's when they adjusted it, else the evaluator's."""
    return score.level if score.adjusted_level is None else score.adjusted_level


def criterion_of(version: RubricVersion, key: str) -> dict | None:
    return next((c for c in version.criteria if c["key"] == key), None)


def max_level(criterion: dict | None) -> int | None:
    if not criterion or not criterion.get("levels"):
        return None
    return max(level["level"] for level in criterion["levels"])


def min_level(criterion: dict | None) -> int | None:
    if not criterion or not criterion.get("levels"):
        return None
    return min(level["level"] for level in criterion["levels"])


def overall(version: RubricVersion, scores: list[CriterionScore]) -> Decimal | None:
    """The overall score (0 to 1) from the levels shown (the teacher's where adjusted)."""
    if not scores:
        return None
    return service.overall_score(
        version.criteria, {s.criterion_key: effective_level(s) for s in scores}
    )


# Adjusting, commenting, releasing ----------------------------------------------------------


async def adjust_level(
    session: AsyncSession,
    actor: Actor,
    evaluation_id: uuid.UUID,
    criterion_key: str,
    level: int | None,
) -> CriterionScore:
    """Set the teacher's level for one criterion (None: back to the evaluator's)."""
    evaluation, _ = await _reviewed_evaluation(session, actor, evaluation_id)
    if evaluation.status is not EvaluationStatus.COMPLETED:
        raise TeachingError.conflict("Only a completed evaluation can be adjusted.")
    score = await repository.score_of(session, evaluation.id, criterion_key)
    if score is None:
        raise TeachingError.invalid("criterion_key", "This evaluation has no such criterion.")
    version = await session.get_one(RubricVersion, evaluation.rubric_version_id)
    criterion = criterion_of(version, criterion_key)
    if level is not None:
        levels = sorted(lv["level"] for lv in (criterion or {}).get("levels", []))
        if level not in levels:
            raise TeachingError.invalid(
                "level", f"Choose one of the rubric's levels: {', '.join(map(str, levels))}."
            )
    if level is None or level == score.level:
        score.adjusted_level = score.adjusted_by_id = score.adjusted_at = None
    else:
        score.adjusted_level, score.adjusted_by_id, score.adjusted_at = level, actor.id, utcnow()
    await session.flush()
    return score


@dataclass
class CommentFields:
    body: str
    message_id: uuid.UUID | None = None


async def add_comment(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, fields: CommentFields
) -> ReviewComment:
    """A teacher's comment on the whole session, or on one of its messages."""
    check = FieldChecker()
    body = check.text("body", fields.body, label="Comment", max_chars=MAX_COMMENT_CHARS)
    check.raise_if_any(TeachingError)
    conversation = await _reviewed_session(session, actor, session_id)
    if fields.message_id is not None:
        message = await session.get(Message, fields.message_id)
        if message is None or message.session_id != conversation.id:
            raise TeachingError.invalid("message_id", "That message is not in this session.")
    comment = ReviewComment(
        session_id=conversation.id,
        message_id=fields.message_id,
        author_id=actor.id,
        body=body or "",
    )
    await repository.add(session, comment)
    return comment


async def delete_comment(session: AsyncSession, actor: Actor, comment_id: uuid.UUID) -> uuid.UUID:
    """Remove a comment: its author, or an admin."""
    comment = await session.get(ReviewComment, comment_id)
    conversation = None
    if comment is not None:
        conversation = await conversations.get_visible(session, actor, comment.session_id)
    if comment is None or conversation is None:
        raise TeachingError.not_found("Comment")
    if comment.author_id != actor.id and not actor.is_admin:
        raise TeachingError.forbidden("Only the comment's author or an admin can remove it.")
    await session.delete(comment)
    await session.flush()
    return comment_id


async def release(
    session: AsyncSession, actor: Actor, evaluation_id: uuid.UUID, released_: bool = True
) -> Evaluation:
    """Release a completed evaluation (and the session's comments) to its student, or
    withdraw it. Releasing again changes nothing."""
    evaluation, _ = await _reviewed_evaluation(session, actor, evaluation_id)
    if evaluation.status is not EvaluationStatus.COMPLETED:
        raise TeachingError.conflict("Only a completed evaluation can be released.")
    if not released_:
        evaluation.released_at = evaluation.released_by_id = None
    elif evaluation.released_at is None:
        evaluation.released_at, evaluation.released_by_id = utcnow(), actor.id
    await session.flush()
    return evaluation


async def set_release_on_completion(
    session: AsyncSession, actor: Actor, assignment_id: uuid.UUID, on: bool
) -> Assignment:
    """Whether the feedback on this assignment's sessions reaches students as soon as it
    is ready, without a teacher releasing each one."""
    if actor.is_student:
        raise TeachingError.forbidden("Only teachers and admins can change assignments.")
    assignment = await classes.get_assignment(session, actor, assignment_id)
    assignment.release_feedback_on_completion = on
    await session.flush()
    return assignment


async def release_if_automatic(session: AsyncSession, evaluation: Evaluation) -> None:
    """Release an evaluation as it completes when its session's assignment says so."""
    released_on_completion = await repository.releases_on_completion(session, evaluation.session_id)
    if released_on_completion and evaluation.released_at is None:
        evaluation.released_at = evaluation.completed_at or utcnow()


# What a session's reader sees --------------------------------------------------------------


async def comments_for(
    session: AsyncSession, actor: Actor, conversation: Session
) -> list[ReviewComment]:
    """The comments on a session the actor already sees: all of them for its teachers and
    admins; for its student, only once its feedback is released."""
    if not reviews(actor):
        latest = await repository.latest_released(session, conversation.id)
        if conversation.student_id != actor.id or latest is None:
            return []
    return await repository.comments_of(session, conversation.id)


# Progress over sessions --------------------------------------------------------------------


@dataclass
class ProgressPoint:
    session_id: uuid.UUID
    ended_at: datetime | None
    client_name: str
    level: int
    max_level: int | None
    min_level: int | None


@dataclass
class CriterionProgress:
    key: str
    name: str
    points: list[ProgressPoint]


async def progress(
    session: AsyncSession, actor: Actor, student_id: uuid.UUID | None = None
) -> list[CriterionProgress]:
    """A student's level per criterion across their evaluated sessions, oldest first (the
    latest evaluation of each session; the teacher's level where adjusted). Students: their
    own, released feedback only. Teachers: a student of the sessions they see."""
    if student_id is None or actor.is_student:
        if student_id is not None and student_id != actor.id:
            raise TeachingError.not_found("Student")
        student_id = actor.id
    visible = (
        conversations.sessions_visible_to(actor)
        .where(Session.student_id == student_id, Session.status == SessionStatus.COMPLETED)
        .order_by(Session.ended_at, Session.id)
    )
    sessions = list(await session.scalars(visible))
    latest = await repository.latest_evaluations(
        session, [s.id for s in sessions], released_only=not reviews(actor)
    )
    latest = {k: e for k, e in latest.items() if e.status is EvaluationStatus.COMPLETED}
    if not latest:
        return []
    versions = await repository.versions_by_id(
        session, {e.rubric_version_id for e in latest.values()}
    )
    scores = await repository.scores_of(session, [e.id for e in latest.values()])
    names = await repository.profile_names(session, {s.client_profile_id for s in sessions})
    series: dict[str, CriterionProgress] = {}
    for conversation in sessions:
        evaluation = latest.get(conversation.id)
        if evaluation is None:
            continue
        version = versions[evaluation.rubric_version_id]
        for score in scores.get(evaluation.id, []):
            criterion = criterion_of(version, score.criterion_key)
            name = (criterion or {}).get("name", score.criterion_key)
            line = series.setdefault(
                score.criterion_key, CriterionProgress(score.criterion_key, name, [])
            )
            line.name = name  # the newest name it had
            line.points.append(
                ProgressPoint(
                    conversation.id,
                    conversation.ended_at,
                    names.get(conversation.client_profile_id, ""),
                    effective_level(score),
                    max_level(criterion),
                    min_level(criterion),
                )
            )
    return list(series.values())
