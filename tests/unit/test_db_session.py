"""One database session shared by the concurrent resolvers of a GraphQL operation."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import Role, User
from tests.factories.accounts import make_user


def _new_user() -> User:
    tag = secrets.token_hex(4)
    return User(email=f"s-{tag}@school.test", name=tag, role=Role.STUDENT, password_hash="x")


async def _every_kind_of_call_at_once(db: AsyncSession, users: list[User]) -> None:
    """What sibling resolvers do: reads, loads, refreshes, savepoints and flushes, all on one
    session, none waiting for the others."""
    ids = [user.id for user in users]

    async def savepoint() -> None:
        async with db.begin_nested():
            db.add(_new_user())

    async def add_and_flush() -> None:
        db.add(_new_user())
        await db.flush()

    async def connection() -> None:
        await (await db.connection()).exec_driver_sql("SELECT 1")

    calls = []
    for user in users:
        calls += [
            db.execute(select(User).where(User.id.in_(ids))),
            db.scalars(select(User.id).where(User.id.in_(ids))),
            db.scalar(select(func.count()).select_from(User)),
            db.get(User, user.id),
            db.get_one(User, user.id),
            db.refresh(user),
            db.merge(user),
            savepoint(),
            add_and_flush(),
            connection(),
        ]
    await asyncio.gather(*calls)


async def test_concurrent_calls_on_one_session_take_turns(runtime, db):
    users = [await make_user(db) for _ in range(5)]

    await _every_kind_of_call_at_once(db, users)

    await db.commit()
