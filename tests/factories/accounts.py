from __future__ import annotations

import secrets
from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import service
from api.accounts.models import Role, User
from api.accounts.security import Actor, hash_password

PASSWORD = "correct horse battery"


@cache
def _password_hash() -> str:
    """argon2 is slow on purpose; every factory user shares one real hash of PASSWORD."""
    return hash_password(PASSWORD)


async def make_user(
    db: AsyncSession, role: Role = Role.STUDENT, *, name: str | None = None, active: bool = True
) -> User:
    """A user row (account rules themselves are tested through accounts.service)."""
    tag = secrets.token_hex(4)
    user = User(
        email=f"{role.value.lower()}-{tag}@school.test",
        name=name or f"{role.value.title()} {tag}",
        role=role,
        password_hash=_password_hash(),
        active=active,
    )
    db.add(user)
    await db.commit()
    return user


def actor(user: User) -> Actor:
    return service.actor_of(user)
