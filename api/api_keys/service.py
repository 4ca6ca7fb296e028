"""API keys for integrators: created by admins, shown once, stored hashed, sent as
`Authorization: Bearer pk_...`, revoked at once.

A key acts as its own service account (a `User` with the key's role that can never sign
in), so every rule the services apply to people, and every rate limit, applies to keys too.
Its scope then narrows what it may do:

- FULL: whatever its role may do;
- USAGE_ANALYTICS: only `me`, `usageSummary`, `usage` and `dailyStats` (reads);
- with a section: reads only, and only about that section (as its teacher sees it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.accounts import repository as users
from api.accounts.admin import UNUSABLE_PASSWORD
from api.accounts.events import AccountEventKind, publish_account_event
from api.accounts.models import Role, User
from api.accounts.security import Actor
from api.accounts.service import actor_of, check_active
from api.api_keys import repository
from api.api_keys.errors import ApiKeyError
from api.api_keys.models import ApiKey, ApiKeyScope
from api.audit import service as audit
from api.audit.service import Action
from api.classes.models import Section
from api.db.base import utcnow
from api.db.session import after_commit
from api.errors import ErrorCode, FieldChecker
from api.events.broker import Broker
from api.pagination import Page, PageRequest, paginate

log = logging.getLogger("practicum.api_keys")

KEY_PREFIX = "pk_"
SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 8
DEFAULT_DAYS = 90
MAX_DAYS = 2 * 365
LAST_USED_EVERY = timedelta(minutes=1)

# What a person does for their own account, which a key has not: any key is refused these.
PERSONAL_FIELDS = frozenset(
    {"login", "signUp", "acceptAccountLink", "signOut", "signOutEverywhere", "changePassword"}
)
# Root fields each narrowed key may ask for (introspection always).
ALWAYS = frozenset({"__typename", "__schema", "__type"})
USAGE_FIELDS = frozenset({"me", "usageSummary", "usage", "dailyStats"})
SECTION_FIELDS = USAGE_FIELDS | {
    "section",
    "sections",
    "assignment",
    "assignments",
    "session",
    "sessions",
}


def looks_like_a_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


@dataclass(frozen=True)
class KeyFields:
    name: str
    role: Role
    scope: ApiKeyScope = ApiKeyScope.FULL
    section_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    """None: DEFAULT_DAYS from now."""


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str
    """The whole key: shown once, never stored."""


def _only_admins(actor: Actor, what: str) -> None:
    if not actor.is_admin:
        raise ApiKeyError.forbidden(f"Only admins can {what}.")
    if actor.api_key_id is not None:
        raise ApiKeyError.forbidden(f"API keys cannot {what}; sign in as an admin.")


async def create_key(session: AsyncSession, actor: Actor, fields: KeyFields) -> CreatedKey:
    _only_admins(actor, "create API keys")
    check = FieldChecker()
    name = check.text("name", fields.name, label="Name", max_chars=120)
    now = utcnow()
    expires_at = fields.expires_at or now + timedelta(days=DEFAULT_DAYS)
    if expires_at <= now:
        check.add("expires_at", "The expiry must be in the future.")
    elif expires_at > now + timedelta(days=MAX_DAYS):
        check.add("expires_at", f"A key may last at most {MAX_DAYS} days; choose an earlier date.")
    check.raise_if_any(ApiKeyError)
    if fields.section_id is not None and await session.get(Section, fields.section_id) is None:
        raise ApiKeyError.not_found("Section")
    secret = _new_key()
    account = User(
        email=f"api-key-{secrets.token_hex(8)}@api-keys.invalid",
        name=f"API key: {name}"[:120],
        role=fields.role,
        password_hash=UNUSABLE_PASSWORD,
        service_account=True,
    )
    await users.add(session, account)
    key = ApiKey(
        name=name,
        prefix=secret[:SHOWN_PREFIX_CHARS],
        secret_hash=hash_key(secret),
        user_id=account.id,
        scope=fields.scope,
        section_id=fields.section_id,
        created_by_id=actor.id,
        expires_at=expires_at,
        created_at=now,
    )
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        actor,
        Action.API_KEY_CREATE,
        "api_key",
        key.id,
        {
            "name": name,
            "prefix": key.prefix,
            "role": fields.role,
            "scope": fields.scope,
            "section_id": fields.section_id,
            "expires_at": expires_at,
        },
    )
    return CreatedKey(key, secret)


async def list_keys(session: AsyncSession, actor: Actor, page: PageRequest) -> Page[ApiKey]:
    _only_admins(actor, "see API keys")
    return await paginate(session, repository.keys(), repository.NEWEST_FIRST, page)


async def role_of(session: AsyncSession, key: ApiKey) -> Role:
    account = await users.get(session, key.user_id)
    return account.role if account else Role.STUDENT


async def revoke_key(
    session: AsyncSession, actor: Actor, key_id: uuid.UUID, broker: Broker | None
) -> ApiKey:
    """The key stops working at once: its next request is refused, and its live
    subscriptions end once this commits."""
    _only_admins(actor, "revoke API keys")
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise ApiKeyError.not_found("API key")
    if key.revoked_at is not None:
        return key
    key.revoked_at = utcnow()
    account = await users.get(session, key.user_id)
    if account is not None:
        account.active = False
    await session.flush()
    await audit.record(session, actor, Action.API_KEY_REVOKE, "api_key", key.id, {"name": key.name})
    if broker is not None:
        user_id = key.user_id
        after_commit(
            session,
            lambda: publish_account_event(broker, user_id, AccountEventKind.DEACTIVATED),
        )
    return key


def _refused(message: str) -> ApiKeyError:
    return ApiKeyError(ErrorCode.UNAUTHENTICATED, message)


async def key_actor(session: AsyncSession, secret: str, address: str | None) -> Actor:
    """The actor a key acts as, as stored now: refused (UNAUTHENTICATED) when the key is
    unknown, revoked or expired, or its account is disabled."""
    found = await repository.by_hash(session, hash_key(secret))
    if found is None:
        raise _refused("This API key is not valid.")
    key, account = found
    if key.revoked_at is not None:
        raise _refused("This API key was revoked.")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise _refused("This API key has expired.")
    check_active(account)
    return replace(
        actor_of(account),
        address=address,
        api_key_id=key.id,
        key_scope=key.scope.value,
        section_id=key.section_id,
        last_used_at=key.last_used_at,
    )


def refusal(actor: Actor, root_fields: set[str], mutation: bool) -> ApiKeyError | None:
    """Why a key may not run an operation asking for `root_fields`, if it may not."""
    if actor.api_key_id is None:
        return None
    personal = sorted(root_fields & PERSONAL_FIELDS)
    if personal:
        return ApiKeyError.forbidden(
            f"API keys do not sign in or out or have passwords; {personal[0]} is for people."
        )
    if not narrowed(actor):
        return None
    if mutation:
        return ApiKeyError.forbidden("This API key may only read.")
    allowed = USAGE_FIELDS if actor.key_scope == ApiKeyScope.USAGE_ANALYTICS else SECTION_FIELDS
    outside = sorted(root_fields - allowed - ALWAYS)
    if outside:
        what = "usage analytics" if allowed is USAGE_FIELDS else "its section"
        return ApiKeyError.forbidden(
            f"This API key may only read {what}; it may not ask for {', '.join(outside)}."
        )
    return None


def narrowed(actor: Actor) -> bool:
    return actor.api_key_id is not None and (
        actor.section_id is not None or actor.key_scope == ApiKeyScope.USAGE_ANALYTICS
    )


class LastUsed:
    """Notes when keys were used, at most once a minute per key, off the request's path."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._noted: dict[uuid.UUID, float] = {}
        self._tasks: set[asyncio.Task] = set()

    def used(self, actor: Actor) -> None:
        key_id = actor.api_key_id
        if key_id is None:
            return
        now = time.monotonic()
        every = LAST_USED_EVERY.total_seconds()
        if now - self._noted.get(key_id, -every) < every:
            return
        last = actor.last_used_at
        if last is not None and utcnow() - last < LAST_USED_EVERY:
            self._noted[key_id] = now - (utcnow() - last).total_seconds()
            return
        self._noted[key_id] = now
        task = asyncio.create_task(self._touch(key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _touch(self, key_id: uuid.UUID) -> None:
        try:
            async with self._sessions() as session:
                await repository.touch(session, key_id, utcnow(), LAST_USED_EVERY)
                await session.commit()
        except Exception:
            log.warning("could not note when API key %s was last used", key_id, exc_info=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
