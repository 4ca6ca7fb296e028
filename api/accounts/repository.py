from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import EndedLogin, User


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


async def get_with_login(
    session: AsyncSession, user_id: uuid.UUID, login_id: uuid.UUID
) -> tuple[User | None, bool]:
    """The user, and whether the login `login_id` was ended: one query."""
    ended = exists().where(EndedLogin.id == login_id, EndedLogin.user_id == User.id)
    row = (await session.execute(select(User, ended).where(User.id == user_id))).first()
    return (row[0], bool(row[1])) if row else (None, False)


async def forget_ended_logins(session: AsyncSession, now: datetime) -> None:
    """Ended logins whose tokens have expired anyway need no record."""
    await session.execute(delete(EndedLogin).where(EndedLogin.expires_at < now))
