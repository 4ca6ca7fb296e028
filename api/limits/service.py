"""The message and login limits as admins change them at run time.

They are stored in the database, applied at once in the process that set them, and
picked up by every other process within `rate_limit_refresh_seconds`. Until an admin sets
them, the environment's limits apply.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime

from limits import parse_many
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.audit import service as audit
from api.db.base import utcnow
from api.db.session import after_commit
from api.errors import FieldChecker
from api.limits import repository
from api.limits.errors import LimitsError
from api.limits.models import SPEC_CHARS
from api.limits.rate import RateLimits, RateLimitSpecs

LABELS = {
    "messages_per_student": "Messages per student",
    "messages_global": "Messages for everyone",
    "logins_per_address": "Sign-ins per network address",
    "logins_per_email": "Sign-ins per account",
}


@dataclass(frozen=True)
class CurrentRateLimits:
    specs: RateLimitSpecs
    updated_at: datetime | None  # None while the environment's limits apply


@dataclass(frozen=True)
class RateLimitChanges:
    """New values for some of the limits; None leaves one as it is."""

    messages_per_student: str | None = None
    messages_global: str | None = None
    logins_per_address: str | None = None
    logins_per_email: str | None = None


def _only_admins(actor: Actor) -> None:
    if not actor.is_admin:
        raise LimitsError.forbidden("Only admins can see and change the rate limits.")


async def get_rate_limits(
    session: AsyncSession, actor: Actor, limits: RateLimits
) -> CurrentRateLimits:
    _only_admins(actor)
    stored = await repository.get(session)
    if stored is None:
        return CurrentRateLimits(limits.defaults, None)
    return CurrentRateLimits(*stored)


async def set_rate_limits(
    session: AsyncSession, actor: Actor, limits: RateLimits, changes: RateLimitChanges
) -> CurrentRateLimits:
    """Change the limits given; they apply in this process once committed."""
    _only_admins(actor)
    given = {f.name: getattr(changes, f.name) for f in fields(changes)}
    given = {name: spec.strip() for name, spec in given.items() if spec is not None}
    _check(given)
    current = await get_rate_limits(session, actor, limits)
    specs = replace(current.specs, **given)
    now = utcnow()
    await repository.save(session, specs, set(given), actor.id, now)
    changed = {
        name: {"from": getattr(current.specs, name), "to": spec}
        for name, spec in given.items()
        if getattr(current.specs, name) != spec
    }
    await audit.record(session, actor, audit.Action.RATE_LIMITS_SET, "rate_limits", None, changed)
    after_commit(session, lambda: limits.use(specs))
    return CurrentRateLimits(specs, now)


def _check(given: dict[str, str]) -> None:
    """Each limit is one count per period in `limits`' notation, or empty for none."""
    check = FieldChecker()
    for name, spec in given.items():
        label = LABELS[name]
        if not spec:
            continue
        if len(spec) > SPEC_CHARS:
            check.add(name, f"{label}: at most {SPEC_CHARS} characters.")
            continue
        try:
            parsed = parse_many(spec)
        except ValueError:
            check.add(
                name,
                f"{label}: write a count per period, like 10/minute or 100 per hour "
                "(leave it empty for no limit).",
            )
            continue
        if len(parsed) > 1:
            check.add(name, f"{label}: one count per period only, like 10/minute.")
        elif parsed[0].amount < 1:
            check.add(name, f"{label}: allow at least 1 (leave it empty for no limit).")
    check.raise_if_any(LimitsError)


async def stored_specs(session: AsyncSession) -> RateLimitSpecs | None:
    """The limits admins stored, for `RateLimits(stored=...)`. In a savepoint: the read runs
    inside a request's own transaction, which a failure must not spoil."""
    async with session.begin_nested():
        stored = await repository.get(session)
    return stored[0] if stored else None
