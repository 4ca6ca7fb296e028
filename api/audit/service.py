"""The audit log: every administrative change, recorded in the transaction that makes it.

Callers record after they have made the change, on the same session: the entry commits or
rolls back with the change itself, so the log never claims what did not happen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.audit import repository
from api.audit.errors import AuditError
from api.audit.models import AuditEntry
from api.db.base import utcnow
from api.pagination import Page, PageRequest, paginate

ACTION_CHARS = 64
TARGET_KIND_CHARS = 32


class Action:
    """The actions recorded so far (dotted: `<target kind>.<verb>`). Others may be added;
    the log accepts any short name."""

    BUDGET_CREATE = "budget.create"
    BUDGET_UPDATE = "budget.update"
    BUDGET_DELETE = "budget.delete"
    RATE_LIMITS_SET = "rate_limits.set"
    CLIENT_PROFILE_PUBLISH = "client_profile.publish"
    CLIENT_PROFILE_UNPUBLISH = "client_profile.unpublish"
    ASSIGNMENT_PUBLISH = "assignment.publish"
    USER_CREATE = "user.create"
    USER_ROLE_CHANGE = "user.role_change"
    USER_DEACTIVATE = "user.deactivate"
    USER_REACTIVATE = "user.reactivate"
    USER_ERASE = "user.erase"
    USER_PASSWORD_RESET = "user.password_reset_link"
    API_KEY_CREATE = "api_key.create"
    API_KEY_REVOKE = "api_key.revoke"
    USER_INVITE = "user.invite"
    SECTION_ROSTER_IMPORT = "section.roster_import"
    SECTION_SIGNUP = "section.signup"
    RUBRIC_PUBLISH = "rubric.publish"
    ASSIGNMENT_RUBRIC_SET = "assignment.rubric_set"


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it: money and ids as text, never floats."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    target_kind: str,
    target_id: uuid.UUID | str | int | None,
    details: dict[str, Any] | None = None,
    address: str | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction (flushed, not committed). `address` defaults
    to the acting request's client address as the rate limits see it (`Actor.address`).
    Details are kept as JSON: never put secrets or whole prompts in them."""
    if not action or len(action) > ACTION_CHARS:
        raise ValueError(f"audit action must be 1 to {ACTION_CHARS} characters")
    if not target_kind or len(target_kind) > TARGET_KIND_CHARS:
        raise ValueError(f"audit target kind must be 1 to {TARGET_KIND_CHARS} characters")
    entry = AuditEntry(
        at=utcnow(),
        actor_id=actor.id if actor else None,
        api_key_id=getattr(actor, "api_key_id", None),
        action=action,
        target_kind=target_kind,
        target_id=None if target_id is None else str(target_id)[:64],
        details=_plain(details or {}),
        address=(address or (actor.address if actor else None) or None),
    )
    if entry.address:
        entry.address = entry.address[:64]
    return await repository.add(session, entry)


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_kind: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_entries(
    session: AsyncSession, actor: Actor, page: PageRequest, where: AuditFilter | None = None
) -> Page[AuditEntry]:
    """Admins: the log, newest first. `action` matches exactly, or every action of a kind
    when it ends with a dot (`budget.`); `since` is inclusive, `until` exclusive."""
    if not actor.is_admin:
        raise AuditError.forbidden("Only admins can read the audit log.")
    where = where or AuditFilter()
    if where.since and where.until and where.since >= where.until:
        raise AuditError.invalid("until", "`until` must be later than `since`.")
    stmt = repository.entries()
    if where.action:
        if where.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(where.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == where.action)
    if where.actor_id:
        stmt = stmt.where(AuditEntry.actor_id == where.actor_id)
    if where.target_kind:
        stmt = stmt.where(AuditEntry.target_kind == where.target_kind)
    if where.target_id:
        stmt = stmt.where(AuditEntry.target_id == where.target_id)
    if where.since:
        stmt = stmt.where(AuditEntry.at >= where.since)
    if where.until:
        stmt = stmt.where(AuditEntry.at < where.until)
    return await paginate(session, stmt, repository.NEWEST_FIRST, page)
