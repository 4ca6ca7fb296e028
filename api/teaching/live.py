"""Feedback progress as it happens: `FeedbackStatusChanged` on `feedback:<session id>`.

A session's event stream (`sessionEvents`) ends when the session does, which is when its
evaluation begins; feedback has a channel (and a subscription) of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.conversations.service import get_session
from api.events.broker import Broker
from api.teaching import repository
from api.teaching.models import Evaluation


def feedback_channel(session_id: uuid.UUID) -> str:
    return f"feedback:{session_id}"


@dataclass(frozen=True)
class FeedbackEvent:
    """An evaluation's status changed (the evaluation as stored then)."""

    evaluation: Evaluation

    @property
    def channel(self) -> str:
        return feedback_channel(self.evaluation.session_id)


async def watch_feedback(
    sessions: Callable[[], AsyncSession], broker: Broker, actor: Actor, session_id: uuid.UUID
) -> AsyncIterator[FeedbackEvent]:
    """The session's latest evaluation (if any), then every change of status."""
    async with broker.subscribe(feedback_channel(session_id)) as subscription:
        async with sessions() as db:
            await get_session(db, actor, session_id)
            latest = await repository.latest_evaluations(db, [session_id])
        seen: tuple | None = None
        if session_id in latest:
            evaluation = latest[session_id]
            seen = (evaluation.id, evaluation.status)
            yield FeedbackEvent(evaluation)
        async for event in subscription:
            if (event.evaluation.id, event.evaluation.status) == seen:
                continue  # the snapshot already said so
            seen = None
            yield event


async def may_watch(
    sessions: Callable[[], AsyncSession], actor: Actor, session_id: uuid.UUID
) -> None:
    async with sessions() as db:
        await get_session(db, actor, session_id)
