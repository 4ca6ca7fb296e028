"""Usage analytics for admins (everything) and teachers (the sessions they see in lists
too: in their sections, with their client profiles, and the ones they held themselves).
Every figure is aggregated in the database, mostly from the daily rollup, so the queries
stay fast with millions of messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Date, Select, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import Actor
from api.classes.models import Assignment, Section
from api.clients.models import ClientProfile
from api.config import Settings
from api.conversations.models import (
    Session,
    SessionFeedback,
    SessionKind,
    SessionStatus,
    held_as_test,
)
from api.conversations.repository import taught_by
from api.errors import FieldChecker
from api.llm.base import total_tokens
from api.ops.models import ErrorEvent
from api.pagination import Order, Page, PageRequest, paginate
from api.usage.errors import UsageError
from api.usage.models import TOKEN_COLUMNS, DailyUsage, UsageKind, UsageRecord

NEWEST_ERRORS = Order((ErrorEvent.created_at, ErrorEvent.id), descending=True)
SHARE = Decimal("0.0001")
NANO = Decimal("1e-9")
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
    if last == date.max:  # its end, the next midnight, is past the last date there is
        raise UsageError.invalid("range", f"The range must end before {date.max}.")
    span = (last - first).days + 1
    if span > settings.max_range_days:
        raise UsageError.invalid(
            "range", f"The range spans {span} days; at most {settings.max_range_days}."
        )
    return DayRange(first, last)


# Sessions are conversations; a client check's throwaway one only carries its usage (which
# the rollup counts, as a test of its teacher's).
PRACTICE = Session.kind == SessionKind.PRACTICE


@dataclass(frozen=True)
class Scope:
    """Whose sessions an analyst's figures cover: everyone's (an admin), or the ones a
    teacher sees in lists too (`taught_by`). Their section and profile ids are looked up
    once, so that the database can use the section and profile indexes."""

    teacher_id: uuid.UUID | None = None
    section_ids: tuple[uuid.UUID, ...] = ()
    profile_ids: tuple[uuid.UUID, ...] = ()

    def condition(self, table=Session):
        """On sessions, or on the rollup, which carries each session's student, profile
        and section."""
        if self.teacher_id is None:
            return None
        return taught_by(
            self.teacher_id, table, sections=self.section_ids, profiles=self.profile_ids
        )


async def _scope_of(session: AsyncSession, actor: Actor) -> Scope:
    if actor.is_student:
        raise UsageError.forbidden("Usage analytics are for teachers and admins.")
    if actor.section_id is not None:  # an API key narrowed to one section
        return Scope(actor.id, (actor.section_id,), ())
    if actor.is_admin:
        return Scope()
    sections = await session.scalars(select(Section.id).where(Section.teacher_id == actor.id))
    profiles = await session.scalars(
        select(ClientProfile.id).where(ClientProfile.owner_id == actor.id)
    )
    return Scope(actor.id, tuple(sections), tuple(profiles))


@dataclass(frozen=True)
class _WithoutTests:
    """A scope without teachers' and admins' own test conversations: usage figures are about
    students' practice unless the analyst asks for the tests too (`includeTests`)."""

    scope: Scope

    def condition(self, table=Session):
        students = ~held_as_test(table.student_id)
        whose = self.scope.condition(table)
        return students if whose is None else and_(whose, students)


def _usage_scope(scope: Scope, include_tests: bool) -> Scope:
    return scope if include_tests else _WithoutTests(scope)


def _scoped(stmt: Select, scope: Scope, *, join_on=None) -> Select:
    """`stmt` restricted to the scope's sessions, joining sessions on `join_on` if given."""
    condition = scope.condition()
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
        return total_tokens(self)

    @property
    def cache_read_share(self) -> Decimal:
        """Of the input tokens, the share read from the prompt cache."""
        read = self.input_tokens + self.cache_write_tokens + self.cache_read_tokens
        if not read:
            return Decimal(0).quantize(SHARE)
        return (Decimal(self.cache_read_tokens) / read).quantize(SHARE)


def _sums():
    """The measures summed over rollup rows, labelled by name, cost last."""
    counts = [
        func.coalesce(func.sum(getattr(DailyUsage, name)), 0).label(name)
        for name in ("messages", "calls", *TOKEN_COLUMNS)
    ]
    return (*counts, func.sum(DailyUsage.cost).label("cost"))


def _totals(row) -> Totals:
    *counts, cost = row
    return Totals(*(int(n) for n in counts), cost=cost or Decimal(0))


def _rollup_in(span: DayRange, scope: Scope, *columns) -> Select:
    stmt = select(*columns, *_sums()).where(DailyUsage.day.between(span.first, span.last))
    condition = scope.condition(DailyUsage)
    return stmt if condition is None else stmt.where(condition)


@dataclass(frozen=True)
class UsageSummary:
    span: DayRange
    sessions: int
    completed_sessions: int
    totals: Totals
    average_cost_per_completed: Decimal
    median_cost_per_completed: Decimal
    by_kind: dict[str, Totals] = field(default_factory=dict)
    """Model calls by what they were for (`UsageKind`: replies, evaluations)."""


async def _by_kind(session: AsyncSession, span: DayRange, scope: Scope) -> dict[str, Totals]:
    """The model calls of the range by kind, from the usage records (by kind and time)."""
    sums = [func.coalesce(func.sum(getattr(UsageRecord, c)), 0) for c in TOKEN_COLUMNS]
    stmt = (
        select(UsageRecord.kind, func.count(), *sums, func.sum(UsageRecord.cost))
        .where(UsageRecord.created_at >= span.since, UsageRecord.created_at < span.until)
        .group_by(UsageRecord.kind)
    )
    stmt = _scoped(stmt, scope, join_on=UsageRecord.session_id)
    found = {kind.value: Totals() for kind in UsageKind}
    for kind, calls, *tokens, cost in await session.execute(stmt):
        found[kind] = Totals(0, int(calls), *(int(t) for t in tokens), cost=cost or Decimal(0))
    return found


async def usage_summary(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    first: date,
    last: date,
    include_tests: bool = False,
) -> UsageSummary:
    scope = _usage_scope(await _scope_of(session, actor), include_tests)
    span = checked_range(settings, first, last)
    totals = _totals((await session.execute(_rollup_in(span, scope))).one())
    started = _scoped(
        select(func.count())
        .select_from(Session)
        .where(Session.started_at >= span.since, Session.started_at < span.until, PRACTICE),
        scope,
    )
    completed = _scoped(
        select(Session.estimated_cost).where(
            Session.status == SessionStatus.COMPLETED,
            PRACTICE,
            Session.ended_at >= span.since,
            Session.ended_at < span.until,
        ),
        scope,
    ).subquery()
    count, total = (
        await session.execute(select(func.count(), func.sum(completed.c.estimated_cost)))
    ).one()
    return UsageSummary(
        span=span,
        sessions=await session.scalar(started) or 0,
        completed_sessions=count,
        totals=totals,
        average_cost_per_completed=_dollars(total / count) if count else Decimal(0),
        median_cost_per_completed=await _median(session, completed.c.estimated_cost, count),
        by_kind=await _by_kind(session, span, scope),
    )


async def _median(session: AsyncSession, column, count: int) -> Decimal:
    """The median in SQL on every backend: the middle one or two values in order."""
    if not count:
        return Decimal(0)
    middle = await session.scalars(
        select(column).order_by(column).offset((count - 1) // 2).limit(2 - count % 2)
    )
    values = list(middle)
    return _dollars(sum(values, Decimal(0)) / len(values))


def _dollars(value: Decimal) -> Decimal:
    """To the nano-dollar as money is stored, without trailing zeros or an exponent
    (0.0044, not 0.004400000; 10, not 1E+1)."""
    value = value.quantize(NANO)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


# Usage by day, model, student, section, client or assignment


@dataclass(frozen=True)
class UsageBucket:
    key: str
    label: str
    sessions: int
    totals: Totals


# What each grouping groups the rollup by, and where its bucket names come from.
_GROUPS = {
    GroupBy.DAY: (DailyUsage.day, None),
    GroupBy.MODEL: (DailyUsage.model, None),
    GroupBy.STUDENT: (DailyUsage.student_id, User.name),
    GroupBy.CLIENT: (DailyUsage.client_profile_id, ClientProfile.name),
    GroupBy.ASSIGNMENT: (DailyUsage.assignment_id, Assignment.title),
    GroupBy.SECTION: (DailyUsage.section_id, Section.name),
}


async def usage_by(
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    first: date,
    last: date,
    group_by: GroupBy,
    include_tests: bool = False,
) -> list[UsageBucket]:
    """Aggregated in the rollup first; names are joined to the (few) buckets after."""
    scope = _usage_scope(await _scope_of(session, actor), include_tests)
    span = checked_range(settings, first, last)
    key, name = _GROUPS[group_by]
    sessions = func.coalesce(func.sum(DailyUsage.sessions), 0).label("sessions")
    buckets = _rollup_in(span, scope, key.label("key"), sessions).group_by(key).subquery()
    label = buckets.c.key if name is None else name
    stmt = select(buckets, label.label("label"))
    if name is not None:
        stmt = stmt.outerjoin(name.class_, name.class_.id == buckets.c.key)
    # By name (days and models: by themselves), the bucket without one last on every backend
    rows = await session.execute(stmt.order_by(label.is_(None), label, buckets.c.key))
    return [
        UsageBucket(
            key=str(row.key) if row.key is not None else "none",
            label=str(row.label) if row.label is not None else _no_group(group_by),
            sessions=row.sessions,
            totals=_totals(tuple(row)[2:-1]),
        )
        for row in rows
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
    session: AsyncSession,
    actor: Actor,
    settings: Settings,
    first: date,
    last: date,
    include_tests: bool = False,
) -> list[DailyStat]:
    """Every day of the range, quiet days included; errors of every session."""
    scope = await _scope_of(session, actor)
    usage_scope = _usage_scope(scope, include_tests)
    span = checked_range(settings, first, last)
    usage = {
        day: _totals(sums)
        for day, *sums in await session.execute(
            _rollup_in(span, usage_scope, DailyUsage.day).group_by(DailyUsage.day)
        )
    }
    sessions = await _count_per_day(
        session, usage_scope, span, Session.started_at, where=(PRACTICE,)
    )
    errors = await _count_per_day(
        session, scope, span, ErrorEvent.created_at, join_on=ErrorEvent.session_id
    )
    return [
        DailyStat(
            day=day,
            sessions_created=sessions.get(day, 0),
            errors=errors.get(day, 0),
            totals=usage.get(day, Totals()),
        )
        for day in span.days()
    ]


async def _count_per_day(
    session: AsyncSession, scope: Scope, span: DayRange, when, *, join_on=None, where=()
) -> dict[date, int]:
    """Rows per UTC day of their timestamp `when`, within the range and the scope."""
    day = _utc_day(session, when)
    stmt = (
        select(day, func.count()).where(when >= span.since, when < span.until, *where).group_by(day)
    )
    rows = await session.execute(_scoped(stmt, scope, join_on=join_on))
    return {_as_date(on): count for on, count in rows}


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
    scope = await _scope_of(session, actor)
    where = where or ErrorFilter()
    check = FieldChecker()
    for name in ("since", "until"):
        moment = getattr(where, name)
        if moment is not None and moment.tzinfo is None:
            check.add(name, f"`{name}` needs a time zone (for example 2026-12-01T17:00:00Z).")
    check.raise_if_any(UsageError)
    stmt = _scoped(select(ErrorEvent), scope, join_on=ErrorEvent.session_id)
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
    scope = await _scope_of(session, actor)
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
    condition = scope.condition()
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
