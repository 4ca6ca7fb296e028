"""Per-operation batch loaders for objects reached through others the caller may already see."""

from __future__ import annotations

import functools
import uuid
from typing import TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from api.accounts.models import User
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.conversations.models import SessionFeedback
from api.db.base import Base
from api.teaching import repository as teaching
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    Rubric,
    RubricVersion,
    SessionMeasures,
)

Model = TypeVar("Model", bound=Base)


@functools.cache
def _with_ids(model: type[Model]) -> Select[tuple[Model]]:
    return select(model).where(model.id.in_(bindparam("ids", expanding=True)))


def _by_id(session: AsyncSession, model: type[Model]) -> DataLoader[uuid.UUID, Model | None]:
    async def load(ids: list[uuid.UUID]) -> list[Model | None]:
        rows = await session.scalars(_with_ids(model), {"ids": ids})
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _feedback_by_session(session: AsyncSession) -> DataLoader[uuid.UUID, SessionFeedback | None]:
    async def load(ids: list[uuid.UUID]) -> list[SessionFeedback | None]:
        rows = await session.scalars(
            select(SessionFeedback).where(SessionFeedback.session_id.in_(ids))
        )
        found = {row.session_id: row for row in rows}
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


class Loaders:
    """Each loader is made when an operation first uses it: most operations (a send, say)
    use none, and making all eleven showed in the profile of a burst of sends."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @functools.cached_property
    def users(self) -> DataLoader[uuid.UUID, User | None]:
        return _by_id(self.session, User)

    @functools.cached_property
    def client_profiles(self) -> DataLoader[uuid.UUID, ClientProfile | None]:
        return _by_id(self.session, ClientProfile)

    @functools.cached_property
    def sections(self) -> DataLoader[uuid.UUID, Section | None]:
        return _by_id(self.session, Section)

    @functools.cached_property
    def assignments(self) -> DataLoader[uuid.UUID, Assignment | None]:
        return _by_id(self.session, Assignment)

    @functools.cached_property
    def feedback_by_session(self) -> DataLoader[uuid.UUID, SessionFeedback | None]:
        return _feedback_by_session(self.session)

    @functools.cached_property
    def teaching(self) -> TeachingLoaders:
        return TeachingLoaders(self.session)


def _latest_evaluation(
    session: AsyncSession, *, released_only: bool
) -> DataLoader[uuid.UUID, Evaluation | None]:
    async def load(ids: list[uuid.UUID]) -> list[Evaluation | None]:
        found = await teaching.latest_evaluations(session, ids, released_only=released_only)
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


def _scores(session: AsyncSession) -> DataLoader[uuid.UUID, list[CriterionScore]]:
    async def load(ids: list[uuid.UUID]) -> list[list[CriterionScore]]:
        found = await teaching.scores_of(session, ids)
        return [found.get(i, []) for i in ids]

    return DataLoader(load_fn=load)


def _measures(session: AsyncSession) -> DataLoader[uuid.UUID, SessionMeasures | None]:
    async def load(ids: list[uuid.UUID]) -> list[SessionMeasures | None]:
        found = await teaching.measures_of(session, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load_fn=load)


class TeachingLoaders:
    """Rubrics, evaluations and measures of objects the caller may already see."""

    def __init__(self, session: AsyncSession) -> None:
        self.rubrics = _by_id(session, Rubric)
        self.rubric_versions = _by_id(session, RubricVersion)
        self.latest_evaluation = _latest_evaluation(session, released_only=False)
        self.latest_released_evaluation = _latest_evaluation(session, released_only=True)
        self.scores = _scores(session)
        self.measures = _measures(session)
