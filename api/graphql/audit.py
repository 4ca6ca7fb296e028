"""The audit log, as admins read it."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from api.audit import models, service
from api.graphql.accounts import User
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection


@strawberry.type(description="One administrative change: who, when (UTC), what, from where.")
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor_id: strawberry.ID | None = strawberry.field(
        description="The user who made the change (null once that account is gone)."
    )
    api_key_id: strawberry.ID | None = strawberry.field(
        description="The API key the change was made through, when it was one."
    )
    action: str = strawberry.field(description="e.g. user.deactivate, budget.update")
    target_kind: str = strawberry.field(description="e.g. user, budget, api_key, rate_limits")
    target_id: str | None
    details: JSON = strawberry.field(description="What changed (never secrets).")
    address: str | None = strawberry.field(
        description="The client's network address, as the rate limits see it."
    )

    @strawberry.field(description="The acting user, as stored now.")
    async def actor(self, info: Info) -> User | None:
        if self.actor_id is None:
            return None
        user = await info.context.loaders.users.load(parse_id(self.actor_id))
        return User.from_model(user) if user else None

    @classmethod
    def from_model(cls, entry: models.AuditEntry) -> AuditEntry:
        return cls(
            id=to_id(entry.id),
            at=entry.at,
            actor_id=to_id(entry.actor_id) if entry.actor_id else None,
            api_key_id=to_id(entry.api_key_id) if entry.api_key_id else None,
            action=entry.action,
            target_kind=entry.target_kind,
            target_id=entry.target_id,
            details=entry.details or {},
            address=entry.address,
        )


@strawberry.input
class AuditLogFilter:
    action: str | None = strawberry.field(
        default=None,
        description="An exact action (`user.deactivate`), or every action of a kind when it "
        "ends with a dot (`budget.`).",
    )
    actor_id: strawberry.ID | None = None
    target_kind: str | None = None
    target_id: str | None = None
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.type
class AuditQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Admins: every administrative change, newest first.",
    )
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        ctx = info.context
        where = service.AuditFilter()
        if filter is not None:
            where = service.AuditFilter(
                action=filter.action,
                actor_id=parse_optional_id(filter.actor_id, "actorId"),
                target_kind=filter.target_kind,
                target_id=filter.target_id,
                since=filter.since,
                until=filter.until,
            )
        page = await service.list_entries(ctx.session, ctx.actor, ctx.page(first, after), where)
        return Connection.of(page, AuditEntry.from_model)
