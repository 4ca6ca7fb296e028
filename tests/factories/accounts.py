from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import service
from api.accounts.models import Role, User
from api.accounts.security import Actor

PASSWORD = "correct horse battery"


async def make_user(
    db: AsyncSession, role: Role = Role.STUDENT, *, name: str | None = None, active: bool = True
) -> User:
    tag = secrets.token_hex(4)
    user = await service.create_user(
        db,
        email=f"{role.value.lower()}-{tag}@school.test",
        name=name or f"{role.value.title()} {tag}",
        role=role,
        password=PASSWORD,
    )
    user.active = active
    await db.commit()
    return user


def actor(user: User) -> Actor:
    return service.actor_of(user)
