"""Accounts: creating users, signing up, logging in and out, passwords, the acting user."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import repository
from api.accounts.errors import AccountError
from api.accounts.events import AccountEventKind
from api.accounts.models import EndedLogin, Role, User
from api.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD, password_problem
from api.accounts.security import Actor, Login, hash_password, issue_token, verify_password
from api.classes import repository as classes
from api.classes.models import Enrollment
from api.config import Settings
from api.db.base import utcnow
from api.errors import ErrorCode, FieldChecker
from api.limits.rate import RateLimits

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
__all__ = ["MAX_PASSWORD", "MIN_PASSWORD"]


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    user: User


GONE = "Your account is no longer available; log in again."
DISABLED = "This account is disabled. Ask your teacher or an admin."
SIGNED_OUT = "You have signed out; sign in again."
ENDED = "Your login has ended (signed out everywhere or a new password); sign in again."
SIGNED_UP = (
    "Your account is ready: sign in with this email and password. If this email already "
    "had an account, nothing about it changed: sign in with its own password and join "
    "the section with the code."
)
SIGNUP_OFF = "Sign-up is turned off on this Practicum. Ask your teacher for an invite."


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, role=user.role)


def check_active(user: User | None) -> User:
    """The one rule on who may act at all: an account that exists and is active."""
    if user is None:
        raise AccountError.unauthenticated(GONE)
    if not user.active:
        raise AccountError.unauthenticated(DISABLED)
    return user


async def stored_actor(
    session: AsyncSession,
    user_id: uuid.UUID,
    login_id: uuid.UUID | None = None,
    generation: int = 0,
) -> Actor:
    """The acting user as the database holds them now. Every operation authorises from
    this, never from the role a token named when it was issued: a demoted or disabled
    account loses its rights at its next operation, and an ended login (signed out, or
    every login before a new password) is refused. One query: the user row, and whether
    the token's login was ended."""
    if login_id is None:
        user, ended = await repository.get(session, user_id), False
    else:
        user, ended = await repository.get_with_login(session, user_id, login_id)
    user = check_active(user)
    if ended:
        raise AccountError.unauthenticated(SIGNED_OUT)
    if user.token_generation != generation:
        raise AccountError.unauthenticated(ENDED)
    return actor_of(user)


def check_password(password: str | None, field: str = "password") -> None:
    """The password policy (api/accounts/passwords.py), as a BAD_USER_INPUT on `field`."""
    problem = password_problem(password)
    if problem:
        raise AccountError.invalid(field, problem)


def issue_login(user: User, settings: Settings) -> LoginResult:
    """A new login (its own id, ended alone by signing out) for an active user."""
    token, expires_at = issue_token(
        actor_of(user),
        settings.signing_secret(),
        timedelta(minutes=settings.token_ttl_minutes),
        login_id=uuid.uuid4(),
        generation=user.token_generation,
    )
    return LoginResult(token=token, expires_at=expires_at, user=user)


async def create_user(
    session: AsyncSession, *, email: str, name: str, role: Role, password: str
) -> User:
    """Create an account. Called by the CLI and the demo seed (trusted callers)."""
    check = FieldChecker()
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        check.add("email", "Enter a valid email address, like name@school.edu.")
    check.text("name", name, label="Name", max_chars=120)
    problem = password_problem(password)
    if problem:
        check.add("password", problem)
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
    return issue_login(user, settings)


async def get_me(session: AsyncSession, actor: Actor) -> User:
    return check_active(await repository.get(session, actor.id))


# Signing up with a join code


def _email(check: FieldChecker, email: str | None) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 320 or "\x00" in email:
        check.add("email", "Enter a valid email address, like name@school.edu.")
    return email


async def sign_up(
    session: AsyncSession,
    settings: Settings,
    *,
    name: str,
    email: str,
    password: str,
    join_code: str,
    limits: RateLimits,
    client_ip: str | None,
) -> str:
    """A student account enrolled in the section of `join_code`. The answer is the same
    whether the email was new or taken (a taken email's account is left exactly as it
    was, and costs as long to answer), so sign-up never tells who has an account."""
    if not settings.self_signup:
        raise AccountError.forbidden(SIGNUP_OFF)
    await limits.signup(client_ip)
    check = FieldChecker()
    name = check.text("name", name, label="Name", max_chars=settings.max_name_chars)
    email = _email(check, email)
    problem = password_problem(password)
    if problem:
        check.add("password", problem)
    code = classes.normalise_join_code(join_code)
    section = await classes.get_section_by_code(session, code) if code else None
    if section is None:
        check.add("join_code", "No section has this join code. Check the code with your teacher.")
    elif not section.signup_open:
        check.add(
            "join_code",
            "This section does not take new sign-ups. Ask your teacher for an invite, or "
            "sign in to your account and join with the code.",
        )
    check.raise_if_any(AccountError)
    password_hash = hash_password(password)  # also for a taken email: the same time
    if await repository.get_by_email(session, email) is not None:
        return SIGNED_UP
    user = User(email=email, name=name, role=Role.STUDENT, password_hash=password_hash)
    try:
        async with session.begin_nested():
            await repository.add(session, user)
            session.add(Enrollment(section_id=section.id, student_id=user.id))
            await session.flush()
    except IntegrityError:  # a concurrent sign-up with this email won: the same answer
        pass
    return SIGNED_UP


# Signing out, passwords


async def sign_out(session: AsyncSession, actor: Actor, login: Login) -> AccountEventKind:
    """End this login on the server. A token without a login id (issued before logins had
    one) ends with every other such token of the account."""
    now = utcnow()
    if login.login_id is None:
        return await sign_out_everywhere(session, actor)
    await repository.forget_ended_logins(session, now)
    if await session.get(EndedLogin, login.login_id) is None:
        expires_at = datetime.fromtimestamp(login.expires_at, tz=now.tzinfo)
        session.add(EndedLogin(id=login.login_id, user_id=actor.id, expires_at=expires_at))
        await session.flush()
    return AccountEventKind.SIGNED_OUT


async def end_every_login(session: AsyncSession, user: User) -> None:
    """Every token issued to `user` so far stops working at its next operation."""
    user.token_generation += 1
    await session.flush()


async def sign_out_everywhere(session: AsyncSession, actor: Actor) -> AccountEventKind:
    await end_every_login(session, await get_me(session, actor))
    return AccountEventKind.SIGNED_OUT_EVERYWHERE


async def change_password(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    limits: RateLimits,
    client_ip: str | None,
) -> LoginResult:
    """A new password, given the current one. Every login of the account ends (others
    are told at once); the answer carries a new login for the one who changed it."""
    user = await get_me(session, actor)
    await limits.login(client_ip, user.email, session)  # guessing the current one counts
    if not verify_password(user.password_hash, current_password or ""):
        raise AccountError.invalid("current_password", "Your current password is not right.")
    check_password(new_password, "new_password")
    if new_password == current_password:
        raise AccountError.invalid(
            "new_password", "Choose a password different from the current one."
        )
    user.password_hash = hash_password(new_password)
    await end_every_login(session, user)
    return issue_login(user, settings)
