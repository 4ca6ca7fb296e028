"""Accounts: creating users, logging in, reading the acting user."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository
from api.accounts.errors import AccountError
from api.accounts.models import Role, User
from api.accounts.security import Actor, hash_password, issue_token, verify_password
from api.config import Settings
from api.db.base import utcnow
from api.errors import ErrorCode, FieldChecker
from api.limits.rate import RateLimits

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    user: User


GONE = "Your account is no longer available; log in again."
DISABLED = "This account is disabled. Ask your teacher or an admin."


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, role=user.role)


def check_active(user: User | None) -> User:
    """The one rule on who may act at all: an account that exists and is active."""
    if user is None:
        raise AccountError.unauthenticated(GONE)
    if not user.active:
        raise AccountError.unauthenticated(DISABLED)
    return user


async def stored_actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    """The acting user as the database holds them now. Every operation authorises from
    this, never from the role a token named when it was issued: a demoted or disabled
    account loses its rights at its next operation."""
    return actor_of(check_active(await repository.get(session, user_id)))


async def create_user(
    session: AsyncSession, *, email: str, name: str, role: Role, password: str
) -> User:
    """Create an account. Called by the CLI and the demo seed (trusted callers)."""
    check = FieldChecker()
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        check.add("email", "Enter a valid email address, like name@school.edu.")
    check.text("name", name, label="Name", max_chars=120)
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        check.add("password", f"Password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    check.raise_if_any(AccountError)
    if await repository.get_by_email(session, email):
        raise AccountError.conflict("An account with this email already exists.", field="email")
    user = User(email=email, name=name.strip(), role=role, password_hash=hash_password(password))
    try:
        async with session.begin_nested():
            await repository.add(session, user)
    except IntegrityError as exc:  # a concurrent create won the race
        raise AccountError.conflict(
            "An account with this email already exists.", field="email"
        ) from exc
    return user


async def login(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    limits: RateLimits,
    client_ip: str | None,
) -> LoginResult:
    """Every attempt counts toward the limits per network address and per email, against
    guessing passwords; an attempt refused by a limit never checks the password."""
    email = (email or "").strip()
    await limits.login(client_ip, email[:320], session)
    # An email with NUL cannot exist (and PostgreSQL refuses to compare against it).
    user = await repository.get_by_email(session, email) if "\x00" not in email else None
    ok = verify_password(user.password_hash if user else None, password or "")
    if not ok or user is None:
        raise AccountError(ErrorCode.UNAUTHENTICATED, "Email or password is incorrect.")
    check_active(user)
    user.last_login_at = utcnow()
    token, expires_at = issue_token(
        actor_of(user), settings.signing_secret(), timedelta(minutes=settings.token_ttl_minutes)
    )
    return LoginResult(token=token, expires_at=expires_at, user=user)


async def get_me(session: AsyncSession, actor: Actor) -> User:
    return check_active(await repository.get(session, actor.id))
