"""The daily rollup (`daily_usage`): messages, calls, tokens and cost per day, session and
model, kept in step with the rows it sums so that analytics never scan every message."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api.conversations.models import Session
from api.db.base import insert_for, utcnow
from api.usage.models import TOKEN_COLUMNS, DailyUsage, UsageRecord

BILLED = (*TOKEN_COLUMNS, "cost")
MEASURES = ("sessions", "messages", "calls", *BILLED)
DIMENSIONS = ("student_id", "client_profile_id", "assignment_id", "section_id")
Key = tuple[date, uuid.UUID, str]

_table = DailyUsage.__table__
_statements: dict[str, object] = {}


@dataclass(frozen=True)
class SessionDimensions:
    """What analytics group and scope by, copied from the session onto its rollup rows."""

    student_id: uuid.UUID
    client_profile_id: uuid.UUID
    assignment_id: uuid.UUID | None
    section_id: uuid.UUID | None

    @classmethod
    def of(cls, conversation: Session) -> SessionDimensions:
        return cls(*(getattr(conversation, name) for name in DIMENSIONS))


def _upsert(dialect: str):
    """INSERT … ON CONFLICT DO UPDATE that adds to the measures (built once per dialect)."""
    if dialect not in _statements:
        stmt = insert_for(dialect)(_table)
        _statements[dialect] = stmt.on_conflict_do_update(
            index_elements=["day", "session_id", "model"],
            set_={name: _table.c[name] + stmt.excluded[name] for name in MEASURES},
        )
    return _statements[dialect]


async def _add(
    session: AsyncSession,
    added: dict[Key, dict[str, int | Decimal]],
    dimensions: dict[uuid.UUID, SessionDimensions],
) -> None:
    if not added:
        return
    rows = [
        {"day": day, "session_id": session_id, "model": model}
        | vars(dimensions[session_id])
        | {name: values.get(name, 0) for name in MEASURES}
        for (day, session_id, model), values in sorted(added.items())  # one lock order
    ]
    await session.execute(_upsert(session.bind.dialect.name), rows)


async def count_messages(
    session: AsyncSession, conversation: Session, count: int, *, first: bool
) -> None:
    """Messages stored in a session today (`first`: the session's first ones)."""
    key = (utcnow().date(), conversation.id, conversation.model)
    added = {"messages": count, "sessions": int(first)}
    await _add(session, {key: added}, {conversation.id: SessionDimensions.of(conversation)})


async def count_calls(
    session: AsyncSession,
    records: list[UsageRecord],
    dimensions: dict[uuid.UUID, SessionDimensions],
    sign: int = 1,
) -> None:
    """Model calls just billed (their UsageRecords, in the same transaction); with
    `sign=-1`, records being deleted, taken out of the day they were counted on."""
    today = utcnow().date()
    added: dict[Key, dict[str, int | Decimal]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        day = record.created_at.date() if record.created_at else today
        values = added[(day, record.session_id, record.model)]
        values["calls"] += sign
        for name in BILLED:
            values[name] += sign * getattr(record, name)
    await _add(session, added, dimensions)


def rebuild_sql(dialect: str) -> str:
    """SQL that fills the rollup from the messages and usage records (a migration's
    backfill, and the benchmark's after seeding). Costs are whole nano-dollars."""
    if dialect == "postgresql":

        def day(column: str) -> str:
            return f"CAST(({column} AT TIME ZONE 'UTC') AS DATE)"
    else:

        def day(column: str) -> str:
            return f"date({column})"

    return f"""
        INSERT INTO daily_usage (day, session_id, model, {", ".join(DIMENSIONS)},
                                 {", ".join(MEASURES)})
        SELECT parts.day, parts.session_id, parts.model, {", ".join(f"s.{d}" for d in DIMENSIONS)},
               {", ".join(f"SUM(parts.{m})" for m in MEASURES)}
        FROM (
            SELECT {day("m.created_at")} AS day, m.session_id, s.model,
                   CASE WHEN m.sequence_number = 1 THEN 1 ELSE 0 END AS sessions,
                   1 AS messages, 0 AS calls, 0 AS input_tokens, 0 AS output_tokens,
                   0 AS cache_write_tokens, 0 AS cache_read_tokens, 0 AS cost
            FROM messages m JOIN sessions s ON s.id = m.session_id
            UNION ALL
            SELECT {day("u.created_at")}, u.session_id, u.model, 0, 0, 1, u.input_tokens,
                   u.output_tokens, u.cache_write_tokens, u.cache_read_tokens, u.cost
            FROM usage_records u
        ) AS parts
        JOIN sessions s ON s.id = parts.session_id
        GROUP BY parts.day, parts.session_id, parts.model, {", ".join(f"s.{d}" for d in DIMENSIONS)}
    """
