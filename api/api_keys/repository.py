from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.api_keys.models import ApiKey
from api.pagination import Order

NEWEST_FIRST = Order((ApiKey.created_at, ApiKey.id), descending=True)


def keys() -> Select[tuple[ApiKey]]:
    return select(ApiKey)


async def by_hash(session: AsyncSession, secret_hash: str) -> tuple[ApiKey, User] | None:
    row = (
        await session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.secret_hash == secret_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def touch(session: AsyncSession, key_id: uuid.UUID, now: datetime, every: timedelta) -> None:
    """Set when the key was last used, unless that was less than `every` ago."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - every),
        )
        .values(last_used_at=now)
    )
