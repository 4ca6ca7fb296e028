"""Select builders and lookups of the teaching domain (flush only, never commit)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.clients.models import ClientProfile
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    EvaluationStatus,
    ReviewComment,
    Rubric,
    RubricVersion,
    SessionMeasures,
)


def rubrics_visible_to(actor: Actor) -> Select[tuple[Rubric]]:
    """Admins: every rubric. Teachers: their own. Students: none (they see the criteria
    of their released feedback through the evaluation)."""
    stmt = select(Rubric)
    if actor.is_admin:
        return stmt
    if actor.is_teacher:
        return stmt.where(Rubric.owner_id == actor.id)
    return stmt.where(Rubric.id.is_(None))


async def get_visible_rubric(
    session: AsyncSession, actor: Actor, rubric_id: uuid.UUID, *, lock: bool = False
) -> Rubric | None:
    stmt = rubrics_visible_to(actor).where(Rubric.id == rubric_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def version_of(session: AsyncSession, rubric_id: uuid.UUID, version: int) -> RubricVersion:
    found = await session.scalar(
        select(RubricVersion).where(
            RubricVersion.rubric_id == rubric_id, RubricVersion.version == version
        )
    )
    assert found is not None, "every rubric has its current version"
    return found


async def versions_of(session: AsyncSession, rubric_id: uuid.UUID) -> list[RubricVersion]:
    rows = await session.scalars(
        select(RubricVersion)
        .where(RubricVersion.rubric_id == rubric_id)
        .order_by(RubricVersion.version)
    )
    return list(rows)


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> RubricVersion | None:
    return await session.get(RubricVersion, version_id)


async def version_is_evaluated(session: AsyncSession, version_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(select(exists().where(Evaluation.rubric_version_id == version_id)))
    )


async def evaluations_of(session: AsyncSession, session_id: uuid.UUID) -> list[Evaluation]:
    """A session's evaluations, newest first."""
    rows = await session.scalars(
        select(Evaluation)
        .where(Evaluation.session_id == session_id)
        .order_by(Evaluation.created_at.desc(), Evaluation.id)
    )
    return list(rows)


async def latest_evaluations(
    session: AsyncSession, session_ids: Collection[uuid.UUID], *, released_only: bool = False
) -> dict[uuid.UUID, Evaluation]:
    """The newest evaluation of each session (the newest released one, for students)."""
    stmt = select(Evaluation).where(Evaluation.session_id.in_(session_ids))
    if released_only:
        stmt = stmt.where(Evaluation.released_at.is_not(None))
    newest = (
        stmt.add_columns(
            func.row_number()
            .over(
                partition_by=Evaluation.session_id,
                order_by=(Evaluation.created_at.desc(), Evaluation.id.desc()),
            )
            .label("rank")
        )
    ).subquery()
    rows = await session.execute(
        select(Evaluation).join(newest, newest.c.id == Evaluation.id).where(newest.c.rank == 1)
    )
    return {evaluation.session_id: evaluation for evaluation in rows.scalars()}


async def scores_of(
    session: AsyncSession, evaluation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[CriterionScore]]:
    rows = await session.scalars(
        select(CriterionScore)
        .where(CriterionScore.evaluation_id.in_(evaluation_ids))
        .order_by(CriterionScore.evaluation_id, CriterionScore.position)
    )
    found: dict[uuid.UUID, list[CriterionScore]] = {i: [] for i in evaluation_ids}
    for score in rows:
        found[score.evaluation_id].append(score)
    return found


async def measures_of(
    session: AsyncSession, session_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, SessionMeasures]:
    rows = await session.scalars(
        select(SessionMeasures).where(SessionMeasures.session_id.in_(session_ids))
    )
    return {row.session_id: row for row in rows}


async def in_progress(session: AsyncSession, session_id: uuid.UUID) -> Evaluation | None:
    from api.teaching.models import IN_PROGRESS

    return await session.scalar(
        select(Evaluation).where(
            Evaluation.session_id == session_id, Evaluation.status.in_(IN_PROGRESS)
        )
    )


async def add(session: AsyncSession, *rows) -> None:
    session.add_all(rows)
    await session.flush()


# Review: adjusted levels, comments, release (feedback-review)


async def latest_completed(session: AsyncSession, session_id: uuid.UUID) -> Evaluation | None:
    return await session.scalar(
        select(Evaluation)
        .where(Evaluation.session_id == session_id, Evaluation.status == EvaluationStatus.COMPLETED)
        .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
        .limit(1)
    )


async def latest_released(session: AsyncSession, session_id: uuid.UUID) -> Evaluation | None:
    return await session.scalar(
        select(Evaluation)
        .where(Evaluation.session_id == session_id, Evaluation.released_at.is_not(None))
        .order_by(Evaluation.created_at.desc(), Evaluation.id.desc())
        .limit(1)
    )


async def score_of(
    session: AsyncSession, evaluation_id: uuid.UUID, criterion_key: str
) -> CriterionScore | None:
    return await session.scalar(
        select(CriterionScore).where(
            CriterionScore.evaluation_id == evaluation_id,
            CriterionScore.criterion_key == criterion_key,
        )
    )


async def comments_of(session: AsyncSession, session_id: uuid.UUID) -> list[ReviewComment]:
    rows = await session.scalars(
        select(ReviewComment)
        .where(ReviewComment.session_id == session_id)
        .order_by(ReviewComment.created_at, ReviewComment.id)
    )
    return list(rows)


async def versions_by_id(
    session: AsyncSession, version_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, RubricVersion]:
    rows = await session.scalars(select(RubricVersion).where(RubricVersion.id.in_(version_ids)))
    return {version.id: version for version in rows}


async def profile_names(
    session: AsyncSession, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(ClientProfile.id, ClientProfile.name).where(ClientProfile.id.in_(profile_ids))
    )
    return {profile_id: name for profile_id, name in rows}


async def releases_on_completion(session: AsyncSession, session_id: uuid.UUID) -> bool:
    """Whether the session's assignment releases feedback to students as soon as it is ready."""
    from api.classes.models import Assignment
    from api.conversations.models import Session

    return bool(
        await session.scalar(
            select(Assignment.release_feedback_on_completion)
            .join(Session, Session.assignment_id == Assignment.id)
            .where(Session.id == session_id)
        )
    )
