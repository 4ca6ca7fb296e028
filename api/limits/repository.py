"""Reads and writes of the stored rate limits (flush only)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.base import insert_for
from api.limits.models import THE_ROW, StoredRateLimits
from api.limits.rate import RateLimitSpecs

_COLUMNS = StoredRateLimits.__table__.c
_READ = select(
    _COLUMNS.messages_per_student,
    _COLUMNS.messages_global,
    _COLUMNS.logins_per_address,
    _COLUMNS.logins_per_email,
    _COLUMNS.updated_at,
).where(_COLUMNS.id == THE_ROW)


async def get(session: AsyncSession) -> tuple[RateLimitSpecs, datetime] | None:
    """The stored limits and when they were set; None when none are stored."""
    row = (await session.execute(_READ)).first()
    if row is None:
        return None
    *specs, updated_at = row
    return RateLimitSpecs(*specs), updated_at


async def save(
    session: AsyncSession, specs: RateLimitSpecs, changed: set[str], by, at: datetime
) -> None:
    """Store the limits; over a stored row, only the `changed` ones (so that two admins
    changing different limits at once both keep their change)."""
    values = asdict(specs)
    stamp = {"updated_by_id": by, "updated_at": at}
    stmt = insert_for(session.bind.dialect.name)(StoredRateLimits.__table__)
    stmt = stmt.values(id=THE_ROW, **values, **stamp)
    update = {name: values[name] for name in changed} | stamp
    await session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update))
