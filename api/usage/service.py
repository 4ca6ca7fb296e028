"""Usage records: every model call as the provider billed it, and the session totals.

A session's token and cost totals change only here, in the same transaction that stores
the calls' records, so they always equal the sum of its UsageRecords.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations.models import Session
from api.llm.base import Usage
from api.usage.models import UsageRecord
from api.usage.pricing import PriceTable


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


async def record_calls(
    session: AsyncSession,
    prices: PriceTable,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID | None,
    calls: list[BilledCall],
) -> Session | None:
    """Store the calls and add them to the session's totals; returns the session with its
    new totals (None when there were no calls)."""
    if not calls:
        return None
    records = [
        UsageRecord(
            session_id=session_id,
            message_id=message_id,
            user_id=user_id,
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
        )
        for call in calls
    ]
    session.add_all(records)
    cost = sum((record.cost for record in records), Decimal(0))
    return await session.scalar(
        update(Session)
        .where(Session.id == session_id)
        .values(
            input_tokens=Session.input_tokens + sum(r.input_tokens for r in records),
            output_tokens=Session.output_tokens + sum(r.output_tokens for r in records),
            cache_write_tokens=Session.cache_write_tokens
            + sum(r.cache_write_tokens for r in records),
            cache_read_tokens=Session.cache_read_tokens + sum(r.cache_read_tokens for r in records),
            estimated_cost=Session.estimated_cost + cost,
        )
        .returning(Session)
        .execution_options(populate_existing=True)
    )
