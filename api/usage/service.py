"""Usage records: every model call as the provider billed it, and the session totals.

A session's token and cost totals change only here, in the same transaction that stores
the calls' records, so they always equal the sum of its UsageRecords.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations.models import Session
from api.db.base import Money
from api.db.session import after_commit
from api.llm.base import Usage
from api.ops import metrics
from api.usage import budgets, rollup
from api.usage.models import TOKEN_COLUMNS, CostAlert, UsageKind, UsageRecord
from api.usage.pricing import PriceTable
from api.usage.rollup import SessionDimensions

_sessions = Session.__table__
# One statement for any number of sessions (executemany): totals grow in SQL, so
# concurrent writers never overwrite each other's additions.
_ADD_TO_TOTALS = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("b_session_id"))
    .values(
        {column: _sessions.c[column] + bindparam(f"b_{column}") for column in TOKEN_COLUMNS}
        | {"estimated_cost": _sessions.c.estimated_cost + bindparam("b_cost", type_=Money())}
    )
)


@dataclass(frozen=True)
class BilledCall:
    """One call to a model, as the provider reported it (or as we estimated it)."""

    provider: str
    model: str
    outcome: str  # COMPLETE, CANCELLED, FAILED, INTERRUPTED, RETRIED
    usage: Usage
    attempt: int
    ttft_ms: int | None = None
    latency_ms: int | None = None


@dataclass(frozen=True)
class Bill:
    """The calls one reply (or one evaluation) took."""

    session_id: uuid.UUID
    dimensions: SessionDimensions  # whose session it is
    message_id: uuid.UUID | None
    calls: list[BilledCall]
    kind: UsageKind = UsageKind.REPLY
    evaluation_id: uuid.UUID | None = None
    stands_in_for: datetime | None = None  # an estimate for another process's stream


def _record(bill: Bill, call: BilledCall, prices: PriceTable) -> UsageRecord:
    return UsageRecord(
        session_id=bill.session_id,
        message_id=bill.message_id,
        kind=bill.kind,
        evaluation_id=bill.evaluation_id,
        user_id=bill.dimensions.student_id,
        provider=call.provider,
        model=call.model,
        outcome=call.outcome,
        input_tokens=call.usage.input_tokens,
        output_tokens=call.usage.output_tokens,
        cache_write_tokens=call.usage.cache_write_tokens,
        cache_read_tokens=call.usage.cache_read_tokens,
        estimated=call.usage.estimated,
        cost=prices.cost(call.model, call.usage),
        ttft_ms=call.ttft_ms,
        latency_ms=call.latency_ms,
        attempts=call.attempt,
        stands_in_for=bill.stands_in_for,
    )


async def record_calls(
    session: AsyncSession, prices: PriceTable, bills: list[Bill]
) -> list[CostAlert]:
    """Store the calls and add them to their sessions' totals, the daily rollup and the
    budgets they count toward; returns the cost alerts that fired."""
    records = [_record(bill, call, prices) for bill in bills for call in bill.calls]
    if not records:
        return []
    session.add_all(records)
    await _add_to_totals(session, records)
    dimensions = {bill.session_id: bill.dimensions for bill in bills}
    await rollup.count_calls(session, records, dimensions)
    alerts = await budgets.count_spending(session, records, dimensions)
    after_commit(session, lambda: _observe(records, alerts))
    return alerts


async def _add_to_totals(session: AsyncSession, records: list[UsageRecord], sign: int = 1) -> None:
    totals: dict[uuid.UUID, dict] = defaultdict(
        lambda: {column: 0 for column in TOKEN_COLUMNS} | {"cost": Decimal(0)}
    )
    for record in records:
        added = totals[record.session_id]
        for column in TOKEN_COLUMNS:
            added[column] += sign * getattr(record, column)
        added["cost"] += sign * record.cost
    await session.execute(
        _ADD_TO_TOTALS,
        [
            {"b_session_id": session_id, "b_cost": added.pop("cost")}
            | {f"b_{column}": value for column, value in added.items()}
            for session_id, added in totals.items()
        ],
    )


async def stand_ins(
    session: AsyncSession, streams: Collection[tuple[uuid.UUID, datetime]]
) -> list[UsageRecord]:
    """The estimates stored in place of these streams' owners (message id, stream start)."""
    if not streams:
        return []
    rows = await session.scalars(
        select(UsageRecord).where(
            UsageRecord.message_id.in_({message_id for message_id, _ in streams}),
            UsageRecord.stands_in_for.is_not(None),
        )
    )
    wanted = set(streams)
    return [row for row in rows if (row.message_id, row.stands_in_for) in wanted]


async def replace_stand_ins(
    session: AsyncSession, prices: PriceTable, estimates: list[UsageRecord], bills: list[Bill]
) -> list[CostAlert]:
    """Replace estimates another process stored for a reply with the calls as its owner
    (reporting late) was billed for them: taken out of the session totals, the rollup and
    the budgets they were counted in, then the calls recorded as usual."""
    dimensions = {bill.session_id: bill.dimensions for bill in bills}
    await session.execute(delete(UsageRecord).where(UsageRecord.id.in_([r.id for r in estimates])))
    await _add_to_totals(session, estimates, sign=-1)
    await rollup.count_calls(session, estimates, dimensions, sign=-1)
    await budgets.take_back_spending(session, estimates, dimensions)
    return await record_calls(session, prices, bills)


def _observe(records: list[UsageRecord], alerts: list[CostAlert]) -> None:
    for record in records:
        for kind in TOKEN_COLUMNS:
            metrics.TOKENS.labels(record.model, kind.removesuffix("_tokens")).inc(
                getattr(record, kind)
            )
        metrics.COST.labels(record.model).inc(float(record.cost))
        if record.ttft_ms is not None:
            metrics.FIRST_TOKEN_SECONDS.labels(record.model).observe(record.ttft_ms / 1000)
        if record.latency_ms is not None and record.outcome == "COMPLETE":
            metrics.TURN_SECONDS.labels(record.model).observe(record.latency_ms / 1000)
    for alert in alerts:
        metrics.COST_ALERTS.labels(alert.scope.value, alert.period.value).inc()
