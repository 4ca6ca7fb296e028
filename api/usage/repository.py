"""Select builders and writes for budgets, their spending and cost alerts (flush only)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, Select, and_, bindparam, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.classes.models import Section
from api.conversations.models import Session
from api.db.base import insert_for
from api.usage.models import Budget, BudgetPeriod, BudgetScope, BudgetSpend, CostAlert


def scope_key(scope: BudgetScope, scope_id: uuid.UUID | None) -> str:
    return "global" if scope is BudgetScope.GLOBAL else f"{scope.value.lower()}:{scope_id}"


def scope_keys(student_id: uuid.UUID, section_id: uuid.UUID | None) -> set[str]:
    """The scopes whose caps a session of this student (in this section) counts toward."""
    keys = {"global", scope_key(BudgetScope.STUDENT, student_id)}
    if section_id is not None:
        keys.add(scope_key(BudgetScope.SECTION, section_id))
    return keys


# Each budget with what it has spent in its current period (None before any spending).
# Built once: the turn's budget check runs it before every reply.
_CURRENT_PERIOD = case(
    (Budget.period == BudgetPeriod.DAILY, bindparam("today", type_=Date())),
    else_=bindparam("month", type_=Date()),
)
_WITH_SPEND = select(Budget, BudgetSpend.__table__.c.spent).outerjoin(
    BudgetSpend,
    and_(BudgetSpend.budget_id == Budget.id, BudgetSpend.period_start == _CURRENT_PERIOD),
)
_OF_SCOPES = _WITH_SPEND.where(Budget.scope_key.in_(bindparam("keys", expanding=True)))


def budgets_with_spend() -> Select:
    """Run with the parameters `period_params(...)`."""
    return _WITH_SPEND


def period_params(today: date, month: date) -> dict:
    return {"today": today, "month": month}


async def budgets_of_session(
    session: AsyncSession, conversation: Session, today: date, month: date
) -> list[tuple[Budget, object]]:
    """Every budget a session's spending counts against, with its spending so far."""
    keys = scope_keys(conversation.student_id, conversation.section_id)
    rows = await session.execute(_OF_SCOPES, {"keys": list(keys), **period_params(today, month)})
    return list(rows)


def budgets_visible_to(actor) -> Select[tuple[Budget]]:
    """Admins: all. Teachers: the global caps and their own sections' caps."""
    stmt = select(Budget)
    if actor.is_admin:
        return stmt
    own_sections = select(Section.id).where(Section.teacher_id == actor.id)
    return stmt.where(
        or_(
            Budget.scope == BudgetScope.GLOBAL,
            and_(Budget.scope == BudgetScope.SECTION, Budget.section_id.in_(own_sections)),
        )
    )


def alerts_visible_to(actor) -> Select[tuple[CostAlert]]:
    stmt = select(CostAlert)
    if actor.is_admin:
        return stmt
    own_sections = select(Section.id).where(Section.teacher_id == actor.id)
    return stmt.where(CostAlert.section_id.in_(own_sections))


async def budgets_for_keys(session: AsyncSession, keys: set[str]) -> list[Budget]:
    return list(await session.scalars(select(Budget).where(Budget.scope_key.in_(keys))))


def _insert(session: AsyncSession):
    return insert_for(session.bind.dialect.name)


async def add_spend(session: AsyncSession, budget_id, period_start: date, cost) -> object:
    """Add to a budget's spending in a period; returns the new total."""
    table = BudgetSpend.__table__
    stmt = _insert(session)(table).values(
        budget_id=budget_id, period_start=period_start, spent=cost
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["budget_id", "period_start"],
        set_={"spent": table.c.spent + stmt.excluded.spent},
    ).returning(table.c.spent)
    return await session.scalar(stmt)


async def set_spend(session: AsyncSession, budget_id, period_start: date, spent) -> None:
    table = BudgetSpend.__table__
    stmt = _insert(session)(table).values(
        budget_id=budget_id, period_start=period_start, spent=spent
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["budget_id", "period_start"], set_={"spent": stmt.excluded.spent}
        )
    )


async def add_alert_once(session: AsyncSession, values: dict) -> uuid.UUID | None:
    """Store an alert unless this budget, period and share has one already."""
    table = CostAlert.__table__
    stmt = (
        _insert(session)(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["budget_id", "period_start", "percent"])
        .returning(table.c.id)
    )
    return await session.scalar(stmt)
