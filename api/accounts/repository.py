from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User


def by_email(email: str) -> Select[tuple[User]]:
    return select(User).where(func.lower(User.email) == email.lower())


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(by_email(email))


async def add(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user
