"""Usage analytics for admins (everything) and teachers (their sections, and the sessions
they held themselves). Every figure is aggregated in the database, mostly from the daily
rollup, so the queries stay fast with millions of messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, Select, case, cast, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import Actor
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.config import Settings
from api.conversations.models import Session, SessionFeedback, SessionStatus
from api.ops.models import ErrorEvent
from api.pagination import Order, Page, PageRequest, paginate
from api.usage.errors import UsageError
from api.usage.models import DailyUsage

NEWEST_ERRORS = Order((ErrorEvent.created_at, ErrorEvent.id), descending=True)
SHARE = Decimal("0.0001")
POSITIVE_RATING = 4


class GroupBy(StrEnum):
    DAY = "DAY"
    MODEL = "MODEL"
    STUDENT = "STUDENT"
    SECTION = "SECTION"
    CLIENT = "CLIENT"
    ASSIGNMENT = "ASSIGNMENT"


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days, both ends included."""

    first: date
    last: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def checked_range(settings: Settings, first: date, last: date) -> DayRange:
    if last < first:
        raise UsageError.invalid("range", "The range ends before it starts.")
    span = (last - first).days + 1
    if span > settings.max_range_days:
        raise UsageError.invalid(
            "range", f"The range spans {span} days; at most {settings.max_range_days}."
        )
    return DayRange(first, last)


def _require_analyst(actor: Actor) -> None:
    if actor.is_student:
        raise UsageError.forbidden("Usage analytics are for teachers and admins.")


def _in_scope(actor: Actor):
    """Sessions the actor's analytics cover (None: all of them)."""
    if actor.is_admin:
        return None
    own_assignments = (
        select(Assignment.id)
        .join(Section, Section.id == Assignment.section_id)
        .where(Section.teacher_id == actor.id)
    )
    return or_(Session.student_id == actor.id, Session.assignment_id.in_(own_assignments))


def _scoped(stmt: Select, actor: Actor, *, join_on=None) -> Select:
    """`stmt` restricted to the actor's sessions, joining sessions on `join_on` if given."""
    condition = _in_scope(actor)
    if condition is None:
        return stmt
    if join_on is not None:
        stmt = stmt.join(Session, Session.id == join_on)
    return stmt.where(condition)


def _utc_day(session: AsyncSession, column):
    if session.bind.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# Totals


@dataclass(frozen=True)
class Totals:
    messages: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost: Decimal = Decimal(0)

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_tokens
            + self.cache_read_tokens
        )

    @property
    def cache_read_share(self) -> Decimal:
        """Of the input tokens, the share read from the prompt cache."""
        read = self.input_tokens + self.cache_write_tokens + self.cache_read_tokens
        if not read:
            return Decimal(0)
        return (Decimal(self.cache_read_tokens) / read).quantize(SHARE)


def _sums():
    return (
        func.coalesce(func.sum(DailyUsage.messages), 0),
        func.coalesce(func.sum(DailyUsage.calls), 0),
        func.coalesce(func.sum(DailyUsage.input_tokens), 0),
        func.coalesce(func.sum(DailyUsage.output_tokens), 0),
        func.coalesce(func.sum(DailyUsage.cache_write_tokens), 0),
        func.coalesce(func.sum(DailyUsage.cache_read_tokens), 0),
        func.sum(DailyUsage.cost),
    )


def _totals(row) -> Totals:
    *counts, cost = row
    return Totals(*(int(n) for n in counts), cost=cost or Decimal(0))


def _rollup_in(span: DayRange, actor: Actor, *columns) -> Select:
    stmt = select(*columns, *_sums()).where(DailyUsage.day.between(span.first, span.last))
    return _scoped(stmt, actor, join_on=DailyUsage.session_id)


@dataclass(frozen=True)
class UsageSummary:
    span: DayRange
    sessions: int
    completed_sessions: int
    totals: Totals
    average_cost_per_completed: Decimal
    median_cost_per_completed: Decimal


async def usage_summary(
    session: AsyncSession, actor: Actor, settings: Settings, first: date, last: date
) -> UsageSummary:
    _require_analyst(actor)
    span = checked_range(settings, first, last)
    totals = _totals((await session.execute(_rollup_in(span, actor))).one())
    started = _scoped(
        select(func.count())
        .select_from(Session)
        .where(Session.started_at >= span.since, Session.started_at < span.until),
        actor,
    )
    completed = _scoped(
        select(Session.estimated_cost).where(
            Session.status == SessionStatus.COMPLETED,
            Session.ended_at >= span.since,
            Session.ended_at < span.until,
        ),
        actor,
    ).subquery()
    count, total = (
        await session.execute(select(func.count(), func.sum(completed.c.estimated_cost)))
    ).one()
    return UsageSummary(
        span=span,
        sessions=await session.scalar(started) or 0,
        completed_sessions=count,
        totals=totals,
        average_cost_per_completed=(total / count).quantize(Decimal("1e-9"))
        if count
        else Decimal(0),
        median_cost_per_completed=await _median(session, completed.c.estimated_cost, count),
    )


async def _median(session: AsyncSession, column, count: int) -> Decimal:
    """The median in SQL on every backend: the middle one or two values in order."""
    if not count:
        return Decimal(0)
    middle = await session.scalars(
        select(column).order_by(column).offset((count - 1) // 2).limit(2 - count % 2)
    )
    values = list(middle)
    return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("1e-9")).normalize()


# Usage by day, model, student, section, client or assignment


@dataclass(frozen=True)
class UsageBucket:
    key: str
    label: str
    sessions: int
    totals: Totals


def _group(group_by: GroupBy, session: AsyncSession) -> tuple[list, list]:
    """The columns to group by (key, label) and the joins they need."""
    if group_by is GroupBy.DAY:
        return [DailyUsage.day, DailyUsage.day], []
    if group_by is GroupBy.MODEL:
        return [DailyUsage.model, DailyUsage.model], []
    if group_by is GroupBy.STUDENT:
        return [User.id, User.name], [(User, User.id == Session.student_id)]
    if group_by is GroupBy.CLIENT:
        return [ClientProfile.id, ClientProfile.name], [
            (ClientProfile, ClientProfile.id == Session.client_profile_id)
        ]
    assignment = (Assignment, Assignment.id == Session.assignment_id)
    if group_by is GroupBy.ASSIGNMENT:
        return [Assignment.id, Assignment.title], [assignment]
    return [Section.id, Section.name], [assignment, (Section, Section.id == Assignment.section_id)]


async def usage_by(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    first: date,
    last: date,
    group_by: GroupBy,
) -> list[UsageBucket]:
    _require_analyst(actor)
    span = checked_range(settings, first, last)
    (key, label), joins = _group(group_by, session)
    stmt = select(key, label, func.count(distinct(DailyUsage.session_id)), *_sums()).where(
        DailyUsage.day.between(span.first, span.last)
    )
    if joins or not actor.is_admin:
        stmt = stmt.join(Session, Session.id == DailyUsage.session_id)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on)  # no assignment: one bucket of its own
    condition = _in_scope(actor)
    if condition is not None:
        stmt = stmt.where(condition)
    rows = await session.execute(stmt.group_by(key, label).order_by(key))
    return [
        UsageBucket(
            key=str(_key) if _key is not None else "none",
            label=str(_label) if _label is not None else _no_group(group_by),
            sessions=sessions,
            totals=_totals(sums),
        )
        for _key, _label, sessions, *sums in rows
    ]


def _no_group(group_by: GroupBy) -> str:
    return {GroupBy.SECTION: "No section", GroupBy.ASSIGNMENT: "No assignment"}.get(
        group_by, "Unknown"
    )


# Daily stats


@dataclass(frozen=True)
class DailyStat:
    day: date
    sessions_created: int = 0
    errors: int = 0
    totals: Totals = field(default_factory=Totals)


async def daily_stats(
    session: AsyncSession, actor: Actor, settings: Settings, first: date, last: date
) -> list[DailyStat]:
    """Every day of the range, quiet days included."""
    _require_analyst(actor)
    span = checked_range(settings, first, last)
    usage = {
        day: _totals(sums)
        for day, *sums in await session.execute(
            _rollup_in(span, actor, DailyUsage.day).group_by(DailyUsage.day)
        )
    }
    started_day = _utc_day(session, Session.started_at)
    started = await session.execute(
        _scoped(
            select(started_day, func.count())
            .where(Session.started_at >= span.since, Session.started_at < span.until)
            .group_by(started_day),
            actor,
        )
    )
    sessions = {_as_date(day): count for day, count in started}
    error_day = _utc_day(session, ErrorEvent.created_at)
    failed = await session.execute(
        _scoped(
            select(error_day, func.count())
            .where(ErrorEvent.created_at >= span.since, ErrorEvent.created_at < span.until)
            .group_by(error_day),
            actor,
            join_on=ErrorEvent.session_id,
        )
    )
    errors = {_as_date(day): count for day, count in failed}
    return [
        DailyStat(
            day=day,
            sessions_created=sessions.get(day, 0),
            errors=errors.get(day, 0),
            totals=usage.get(day, Totals()),
        )
        for day in span.days()
    ]


# Error events


@dataclass
class ErrorFilter:
    category: str | None = None
    session_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def error_events(
    session: AsyncSession, actor: Actor, page: PageRequest, where: ErrorFilter | None = None
) -> Page[ErrorEvent]:
    _require_analyst(actor)
    where = where or ErrorFilter()
    stmt = _scoped(select(ErrorEvent), actor, join_on=ErrorEvent.session_id)
    if where.category:
        # "provider" matches every provider.* category
        stmt = stmt.where(
            or_(
                ErrorEvent.category == where.category,
                ErrorEvent.category.startswith(where.category.rstrip(".") + ".", autoescape=True),
            )
        )
    if where.session_id is not None:
        stmt = stmt.where(ErrorEvent.session_id == where.session_id)
    if where.since is not None:
        stmt = stmt.where(ErrorEvent.created_at >= where.since)
    if where.until is not None:
        stmt = stmt.where(ErrorEvent.created_at < where.until)
    return await paginate(session, stmt, NEWEST_ERRORS, page)


# Feedback


@dataclass(frozen=True)
class ClientFeedback:
    client_profile_id: uuid.UUID
    client_name: str
    ratings: int
    average_rating: Decimal
    positive_share: Decimal


async def feedback_by_client(
    session: AsyncSession, actor: Actor, settings: Settings, first: date, last: date
) -> list[ClientFeedback]:
    """Students' ratings of finished sessions per client profile; positive is 4 or 5."""
    _require_analyst(actor)
    span = checked_range(settings, first, last)
    positive = func.sum(case((SessionFeedback.rating >= POSITIVE_RATING, 1), else_=0))
    stmt = (
        select(
            ClientProfile.id,
            ClientProfile.name,
            func.count(),
            func.sum(SessionFeedback.rating),
            positive,
        )
        .select_from(SessionFeedback)
        .join(Session, Session.id == SessionFeedback.session_id)
        .join(ClientProfile, ClientProfile.id == Session.client_profile_id)
        .where(SessionFeedback.created_at >= span.since, SessionFeedback.created_at < span.until)
        .group_by(ClientProfile.id, ClientProfile.name)
        .order_by(ClientProfile.name)
    )
    condition = _in_scope(actor)
    if condition is not None:
        stmt = stmt.where(condition)
    return [
        ClientFeedback(
            client_profile_id=profile_id,
            client_name=name,
            ratings=count,
            average_rating=(Decimal(total) / count).quantize(Decimal("0.01")),
            positive_share=(Decimal(int(good or 0)) / count).quantize(SHARE),
        )
        for profile_id, name, count, total, good in await session.execute(stmt)
    ]
