"""Cost caps per UTC day or month (for everyone, a section or a student) and the alerts
that fire once per period when spending reaches a share of a cap.

Spending is counted in the transaction that stores the UsageRecords, so a cap and its
alerts always see exactly what was billed. Before a reply is asked for, its worst-case
cost is checked against every cap it counts toward.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Role, User
from api.accounts.security import Actor
from api.audit import service as audit
from api.classes import service as classes
from api.config import Settings
from api.conversations.models import Session
from api.db.base import NANOS_PER_USD, utcnow
from api.errors import ErrorCode, FieldChecker
from api.pagination import Order, Page, PageRequest, paginate
from api.usage import repository
from api.usage.errors import UsageError
from api.usage.models import (
    Budget,
    BudgetPeriod,
    BudgetScope,
    CostAlert,
    DailyUsage,
    UsageRecord,
)
from api.usage.pricing import usd
from api.usage.rollup import SessionDimensions

NEWEST_ALERTS = Order((CostAlert.created_at, CostAlert.id), descending=True)
MAX_ALERT_PERCENTS = 10


def period_start(period: BudgetPeriod, now: datetime) -> date:
    today = now.astimezone(UTC).date()
    return today if period is BudgetPeriod.DAILY else today.replace(day=1)


def period_end(period: BudgetPeriod, start: date) -> datetime:
    """When a period's spending starts again from zero."""
    if period is BudgetPeriod.DAILY:
        following = start + timedelta(days=1)
    else:
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(following, time(), tzinfo=UTC)


# Checking a turn against the caps


def _scope_words(budget: Budget, own: bool) -> str:
    if budget.scope is BudgetScope.GLOBAL:
        return "Practicum"
    if budget.scope is BudgetScope.SECTION:
        return "your section"
    return "your practice" if own else "this student"


def _exceeded(budget: Budget, spent: Decimal, now: datetime, own: bool) -> UsageError:
    resets = period_end(budget.period, period_start(budget.period, now))
    wait = resets - now
    hours, minutes = divmod(int(wait.total_seconds()) // 60, 60)
    period = "daily" if budget.period is BudgetPeriod.DAILY else "monthly"
    return UsageError(
        ErrorCode.BUDGET_EXCEEDED,
        f"The {period} budget for {_scope_words(budget, own)} is used up "
        f"({usd(spent)} of {usd(budget.limit_usd)}). Your message was not sent. The budget "
        f"resets at {resets:%H:%M} UTC on {resets:%d %b} (in {hours} h {minutes} min).",
        scope=budget.scope.value,
        period=budget.period.value,
        resetsAt=resets.isoformat(),
        retryAfter=max(1, int(wait.total_seconds()) + 1),
    )


async def check_turn(
    session: AsyncSession, actor: Actor, conversation: Session, worst_case: Decimal
) -> None:
    """Refuse a reply whose worst-case cost would pass a cap it counts toward."""
    now = utcnow()
    rows = await repository.budgets_of_session(
        session,
        conversation,
        period_start(BudgetPeriod.DAILY, now),
        period_start(BudgetPeriod.MONTHLY, now),
    )
    for budget, spent in rows:
        spent = spent or Decimal(0)
        if spent + worst_case > budget.limit_usd:
            raise _exceeded(budget, spent, now, own=conversation.student_id == actor.id)


# Counting what was spent, and the alerts


async def count_spending(
    session: AsyncSession,
    records: list[UsageRecord],
    sessions: dict[uuid.UUID, SessionDimensions],
) -> list[CostAlert]:
    """Add billed calls to the caps they count toward; returns the alerts that fired now."""
    paid = [record for record in records if record.cost]
    scopes, budgets = await _caps_of(session, paid, sessions)
    if not budgets:
        return []
    added: dict[str, Decimal] = defaultdict(Decimal)
    for record in paid:
        for key in scopes[record.session_id] & budgets.keys():
            added[key] += record.cost
    now = utcnow()
    alerts: list[CostAlert] = []
    for key in sorted(added):  # one lock order across concurrent writers
        for budget in sorted(budgets[key], key=lambda b: b.period.value):
            start = period_start(budget.period, now)
            spent = await repository.add_spend(session, budget.id, start, added[key])
            alerts += await _alerts_reached(session, budget, start, spent - added[key], spent)
    return alerts


async def take_back_spending(
    session: AsyncSession,
    records: list[UsageRecord],
    sessions: dict[uuid.UUID, SessionDimensions],
) -> None:
    """Take records being deleted out of the caps' spending of the periods they were
    counted in (an alert already told stays told)."""
    paid = [record for record in records if record.cost]
    scopes, budgets = await _caps_of(session, paid, sessions)
    taken: dict[tuple[uuid.UUID, date], Decimal] = defaultdict(Decimal)
    for record in paid:
        for key in scopes[record.session_id] & budgets.keys():
            for budget in budgets[key]:
                taken[(budget.id, period_start(budget.period, record.created_at))] += record.cost
    for (budget_id, start), cost in sorted(taken.items()):  # one lock order
        await repository.add_spend(session, budget_id, start, -cost)


async def _caps_of(
    session: AsyncSession, paid: list[UsageRecord], sessions: dict[uuid.UUID, SessionDimensions]
) -> tuple[dict[uuid.UUID, set[str]], dict[str, list[Budget]]]:
    """The scope keys of each session, and the caps (by scope key) the calls count toward."""
    budgets: dict[str, list[Budget]] = defaultdict(list)  # a scope may have a daily and a monthly
    if not paid:
        return {}, budgets
    scopes = {
        id_: repository.scope_keys(dims.student_id, dims.section_id)
        for id_, dims in sessions.items()
    }
    keys = set().union(*scopes.values())
    for budget in await repository.budgets_for_keys(session, keys):
        budgets[budget.scope_key].append(budget)
    return scopes, budgets


async def _alerts_reached(
    session: AsyncSession, budget: Budget, start: date, before: Decimal, after: Decimal
) -> list[CostAlert]:
    alerts = []
    for percent in budget.alert_percents:
        threshold = budget.limit_usd * percent / 100
        if not before < threshold <= after:
            continue
        values = dict(
            budget_id=budget.id,
            scope=budget.scope,
            section_id=budget.section_id,
            student_id=budget.student_id,
            period=budget.period,
            period_start=start,
            percent=percent,
            spent=after,
            limit_usd=budget.limit_usd,
            created_at=utcnow(),  # what subscribers are told is what is stored
        )
        alert_id = await repository.add_alert_once(session, values)
        if alert_id is not None:  # else another process stored it first
            alerts.append(CostAlert(id=alert_id, **values))
    return alerts


# Setting caps


@dataclass
class BudgetFields:
    scope: BudgetScope
    period: BudgetPeriod
    limit_usd: Decimal | str
    section_id: uuid.UUID | None = None
    student_id: uuid.UUID | None = None
    alert_percents: list[int] | None = None


def _checked(fields: BudgetFields, settings: Settings) -> tuple[Decimal, list[int]]:
    check = FieldChecker()
    try:
        limit = Decimal(str(fields.limit_usd))
        finite = limit.is_finite()
    except (InvalidOperation, ValueError):
        limit, finite = Decimal(0), False
    if not finite or limit <= 0:
        check.add("limit_usd", "The limit must be a positive amount of US dollars.")
    elif limit > settings.max_budget_usd:
        check.add("limit_usd", f"The limit can be at most {usd(settings.max_budget_usd)}.")
    elif limit * NANOS_PER_USD != (limit * NANOS_PER_USD).to_integral_value():
        check.add("limit_usd", "The limit can have at most 9 decimal places.")
    asked = fields.alert_percents
    percents = sorted(set(settings.budget_alert_percents if asked is None else asked))
    if len(percents) > MAX_ALERT_PERCENTS or not all(1 <= p <= 100 for p in percents):
        check.add(
            "alert_percents",
            f"Alert at up to {MAX_ALERT_PERCENTS} shares of the limit, each 1 to 100 (%).",
        )
    needs = {BudgetScope.SECTION: "section_id", BudgetScope.STUDENT: "student_id"}
    for scope, name in needs.items():
        if (fields.scope is scope) != (getattr(fields, name) is not None):
            verb = "needs" if fields.scope is scope else "cannot have"
            check.add(name, f"A {fields.scope.value.lower()} budget {verb} a {name[:-3]}.")
    check.raise_if_any(UsageError)
    return limit, percents


async def _scope_id(session: AsyncSession, actor: Actor, fields: BudgetFields) -> uuid.UUID | None:
    """Who may set which caps: admins any; teachers their own sections' caps only."""
    if fields.scope is BudgetScope.SECTION:
        section = await classes.get_managed_section(session, actor, fields.section_id)
        return section.id
    if not actor.is_admin:
        raise UsageError.forbidden("Only admins can set global and per-student budgets.")
    if fields.scope is BudgetScope.STUDENT:
        student = await session.get(User, fields.student_id)
        if student is None or student.role is not Role.STUDENT:
            raise UsageError.not_found("Student")
        return student.id
    return None


async def _within_global_cap(
    session: AsyncSession, scope: BudgetScope, period: BudgetPeriod, limit: Decimal
) -> None:
    if scope is BudgetScope.GLOBAL:
        return
    cap = await session.scalar(
        select(Budget.limit_usd).where(Budget.scope_key == "global", Budget.period == period)
    )
    if cap is not None and limit > cap:
        raise UsageError.invalid(
            "limit_usd",
            f"The limit cannot be more than the global {period.value.lower()} cap ({usd(cap)}).",
        )


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent: Decimal
    period_start: date

    @property
    def resets_at(self) -> datetime:
        return period_end(self.budget.period, self.period_start)


@dataclass(frozen=True)
class BudgetSet:
    status: BudgetStatus
    alerts: list[CostAlert]
    """Shares of the new cap that the period's spending has already reached: they fire
    now (once per period, as ever), to be published once committed."""


async def set_budget(
    session: AsyncSession, actor: Actor, settings: Settings, fields: BudgetFields
) -> BudgetSet:
    """Create or change the cap for a scope and period."""
    if actor.is_student:
        raise UsageError.forbidden("Only admins and teachers can set budgets.")
    limit, percents = _checked(fields, settings)
    scope_id = await _scope_id(session, actor, fields)
    await _within_global_cap(session, fields.scope, fields.period, limit)
    key = repository.scope_key(fields.scope, scope_id)
    budget = await session.scalar(
        select(Budget).where(Budget.scope_key == key, Budget.period == fields.period)
    )
    creating = budget is None
    before = (
        None
        if creating
        else {"limit_usd": budget.limit_usd, "alert_percents": list(budget.alert_percents)}
    )
    if budget is None:
        budget = Budget(
            scope=fields.scope,
            section_id=fields.section_id,
            student_id=fields.student_id,
            scope_key=key,
            period=fields.period,
        )
        session.add(budget)
    budget.limit_usd, budget.alert_percents = limit, percents
    budget.updated_by_id, budget.updated_at = actor.id, utcnow()
    await session.flush()
    await audit.record(
        session,
        actor,
        audit.Action.BUDGET_CREATE if creating else audit.Action.BUDGET_UPDATE,
        "budget",
        budget.id,
        {
            **_audit_scope(budget),
            "limit_usd": limit,
            "alert_percents": percents,
            **({"before": before} if before else {}),
        },
    )
    start, spent = await _count_period_so_far(session, budget)
    alerts = await _alerts_reached(session, budget, start, Decimal(-1), spent)
    return BudgetSet(BudgetStatus(budget, spent, start), alerts)


def _audit_scope(budget: Budget) -> dict:
    return {
        "scope": budget.scope,
        "period": budget.period,
        "section_id": budget.section_id,
        "student_id": budget.student_id,
    }


async def _count_period_so_far(session: AsyncSession, budget: Budget) -> tuple[date, Decimal]:
    """A new cap starts from what its scope has already spent in the period."""
    start = period_start(budget.period, utcnow())
    end = period_end(budget.period, start).date()
    stmt = select(func.sum(DailyUsage.cost)).where(DailyUsage.day >= start, DailyUsage.day < end)
    if budget.scope is BudgetScope.STUDENT:
        stmt = stmt.where(DailyUsage.student_id == budget.student_id)
    elif budget.scope is BudgetScope.SECTION:
        stmt = stmt.where(DailyUsage.section_id == budget.section_id)
    spent = await session.scalar(stmt) or Decimal(0)
    await repository.set_spend(session, budget.id, start, spent)
    return start, spent


async def delete_budget(session: AsyncSession, actor: Actor, budget_id: uuid.UUID) -> Budget:
    budget = await get_budget(session, actor, budget_id)
    if budget.scope is not BudgetScope.SECTION and not actor.is_admin:
        raise UsageError.forbidden("Only admins can remove global and per-student budgets.")
    details = {**_audit_scope(budget), "limit_usd": budget.limit_usd}
    await session.delete(budget)
    await session.flush()
    await audit.record(session, actor, audit.Action.BUDGET_DELETE, "budget", budget.id, details)
    return budget


async def get_budget(session: AsyncSession, actor: Actor, budget_id: uuid.UUID) -> Budget:
    if actor.is_student:
        raise UsageError.not_found("Budget")
    budget = await session.scalar(
        repository.budgets_visible_to(actor).where(Budget.id == budget_id)
    )
    if budget is None:
        raise UsageError.not_found("Budget")
    return budget


async def list_budgets(session: AsyncSession, actor: Actor) -> list[BudgetStatus]:
    """The caps the actor may see, with what has been spent in the current period."""
    if actor.is_student:
        raise UsageError.forbidden("Only admins and teachers can see budgets.")
    now = utcnow()
    day, month = period_start(BudgetPeriod.DAILY, now), period_start(BudgetPeriod.MONTHLY, now)
    visible = repository.budgets_visible_to(actor).subquery()
    stmt = repository.budgets_with_spend().where(Budget.id.in_(select(visible.c.id)))
    statuses = []
    ordered = stmt.order_by(Budget.scope_key, Budget.period)
    for budget, spent in await session.execute(ordered, repository.period_params(day, month)):
        start = day if budget.period is BudgetPeriod.DAILY else month
        statuses.append(BudgetStatus(budget, spent or Decimal(0), start))
    return statuses


async def list_alerts(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[CostAlert]:
    if actor.is_student:
        raise UsageError.forbidden("Only admins and teachers can see cost alerts.")
    return await paginate(session, repository.alerts_visible_to(actor), NEWEST_ALERTS, page)
