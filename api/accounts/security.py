"""Password hashing (argon2) and access tokens (JWT, HS256)."""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.accounts.models import Role
from api.db.base import utcnow

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the account's. An account without a password (invited, not
    yet accepted: an empty hash) matches nothing, after as long a check as any other."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: what services need to know to apply the rules."""

    id: uuid.UUID
    role: Role
    address: str | None = None
    """The client's network address as the rate limits see it, when acting over a request."""
    api_key_id: uuid.UUID | None = None
    """The API key this actor acts through, if any (None for a person's login)."""
    key_scope: str | None = None
    """The key's scope (api.api_keys.models.ApiKeyScope), when acting through a key."""
    section_id: uuid.UUID | None = None
    """A key narrowed to one section: it reads that section as its teacher does, no more."""
    last_used_at: datetime | None = None
    """When the key was last noted as used (see api.api_keys.service.LastUsed)."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_teacher(self) -> bool:
        return self.role is Role.TEACHER

    @property
    def is_student(self) -> bool:
        return self.role is Role.STUDENT


class TokenError(Exception):
    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def issue_token(
    actor: Actor,
    secret: str,
    ttl: timedelta,
    *,
    login_id: uuid.UUID | None = None,
    generation: int = 0,
) -> tuple[str, datetime]:
    """A signed token for `actor`. `login_id` names this login (signing out ends it alone);
    `generation` is the account's `token_generation` now (signing out everywhere or a new
    password raises it, ending every token issued before)."""
    expires_at = (utcnow() + ttl).replace(microsecond=0)  # what `exp` holds
    claims = {"sub": str(actor.id), "role": actor.role.value, "exp": expires_at}
    if login_id is not None:
        claims["sid"] = str(login_id)
    if generation:
        claims["gen"] = generation
    return jwt.encode(claims, secret, algorithm="HS256"), expires_at


@dataclass(frozen=True, slots=True)
class Login:
    """What a valid token says: whose login it is and until when. Not the role: rights
    come from the stored account at each operation, so that a change applies at once."""

    user_id: uuid.UUID
    expires_at: float  # seconds since the epoch
    login_id: uuid.UUID | None = None  # ended alone by signing out (tokens since 0005)
    generation: int = 0  # the account's token_generation when issued

    def seconds_left(self) -> float:
        return self.expires_at - time.time()

    def check(self) -> Login:
        """This login, or TokenError once it has expired."""
        if self.seconds_left() <= 0:
            raise TokenError(expired=True)
        return self


def read_token(token: str, secret: str) -> Login:
    """The login a token carries. Verified tokens are remembered until they expire: a
    student sends the same token with every message."""
    return _verified(token, secret).check()


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> Login:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp"]})
        sid = claims.get("sid")
        return Login(
            user_id=uuid.UUID(claims["sub"]),
            expires_at=float(claims["exp"]),
            login_id=uuid.UUID(sid) if sid else None,
            generation=int(claims.get("gen", 0)),
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError(expired=True) from exc
    except (jwt.InvalidTokenError, KeyError, ValueError) as exc:
        raise TokenError(expired=False) from exc
