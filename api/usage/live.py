"""Live usage for the admin dashboard: one snapshot a second at most, computed once for
all watching admins, and pushed only when something changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.conversations.models import Message, MessageStatus, Session, SessionStatus
from api.db.base import utcnow
from api.ops.models import ErrorEvent
from api.usage.errors import UsageError
from api.usage.models import DailyUsage, UsageRecord

log = logging.getLogger("practicum.live")

INTERVAL_SECONDS = 1.0
TTFT_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class UsageMetrics:
    active_sessions: int
    streaming_replies: int
    messages_last_minute: int
    tokens_today: int
    cost_today: Decimal
    errors_last_hour: int
    ttft_p50_ms: int | None
    ttft_p95_ms: int | None
    at: datetime

    def same_figures(self, other: UsageMetrics | None) -> bool:
        return other is not None and {**vars(self), "at": None} == {**vars(other), "at": None}


async def _percentile(session: AsyncSession, column, where, count: int, share: float):
    if not count:
        return None
    offset = max(0, math.ceil(share * count) - 1)  # nearest rank
    return await session.scalar(select(column).where(*where).order_by(column).offset(offset))


async def snapshot(session: AsyncSession) -> UsageMetrics:
    now = utcnow()
    recent = (UsageRecord.created_at >= now - TTFT_WINDOW, UsageRecord.ttft_ms.is_not(None))
    timed = await session.scalar(select(func.count()).where(*recent)) or 0
    today = (
        await session.execute(
            select(
                func.coalesce(
                    func.sum(
                        DailyUsage.input_tokens
                        + DailyUsage.output_tokens
                        + DailyUsage.cache_write_tokens
                        + DailyUsage.cache_read_tokens
                    ),
                    0,
                ),
                func.sum(DailyUsage.cost),
            ).where(DailyUsage.day == now.date())
        )
    ).one()
    return UsageMetrics(
        active_sessions=await _count(session, Session, Session.status == SessionStatus.ACTIVE),
        streaming_replies=await _count(session, Message, Message.status == MessageStatus.STREAMING),
        messages_last_minute=await _count(
            session, Message, Message.created_at >= now - timedelta(minutes=1)
        ),
        tokens_today=int(today[0]),
        cost_today=today[1] or Decimal(0),
        errors_last_hour=await _count(
            session, ErrorEvent, ErrorEvent.created_at >= now - timedelta(hours=1)
        ),
        ttft_p50_ms=await _percentile(session, UsageRecord.ttft_ms, recent, timed, 0.5),
        ttft_p95_ms=await _percentile(session, UsageRecord.ttft_ms, recent, timed, 0.95),
        at=now,
    )


async def _count(session: AsyncSession, model, condition) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(condition)) or 0


class LiveUsage:
    """Admins subscribe; while anyone watches, one task takes a snapshot every second and
    hands it to every watcher whose last figures differ."""

    def __init__(self, sessions: Callable[[], AsyncSession]) -> None:
        self.sessions = sessions
        self._watchers: set[asyncio.Queue[UsageMetrics]] = set()
        self._latest: UsageMetrics | None = None
        self._task: asyncio.Task | None = None
        self._taking = asyncio.Lock()  # admins arriving together share one snapshot

    async def watch(self) -> AsyncIterator[UsageMetrics]:
        queue: asyncio.Queue[UsageMetrics] = asyncio.Queue(maxsize=1)
        self._watchers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live-usage")
        try:
            yield await self._current()
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)

    async def _current(self) -> UsageMetrics:
        async with self._taking:
            return self._latest or await self._take()

    async def _take(self) -> UsageMetrics:
        async with self.sessions() as session:
            self._latest = await snapshot(session)
        return self._latest

    async def _run(self) -> None:
        while self._watchers:
            await asyncio.sleep(INTERVAL_SECONDS)
            previous = self._latest
            try:
                latest = await self._take()
            except Exception:
                log.exception("could not take the live usage snapshot")
                continue
            if latest.same_figures(previous):
                continue
            for queue in list(self._watchers):
                if queue.full():  # a slow watcher gets the newest figures, not a backlog
                    queue.get_nowait()
                queue.put_nowait(latest)
        self._latest = None  # nobody watches: the next watcher gets fresh figures

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def authorize(actor: Actor) -> None:
    """Live usage and cost alerts are for admins (`actor` as stored now)."""
    if not actor.is_admin:
        raise UsageError.forbidden("Live usage and cost alerts are for admins.")
