"""API keys for integrators, as admins create, list and revoke them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.api_keys import models, service
from api.graphql.accounts import Role
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection

ApiKeyScope = strawberry.enum(
    models.ApiKeyScope,
    name="ApiKeyScope",
    description="FULL: what the key's role may do. USAGE_ANALYTICS: only reading usage "
    "(me, usageSummary, usage, dailyStats).",
)


@strawberry.type(description="A key an integration sends as `Authorization: Bearer pk_...`.")
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The key's first characters, to recognise it.")
    role: Role
    scope: ApiKeyScope
    section_id: strawberry.ID | None = strawberry.field(
        description="When set, the key only reads, and only this section."
    )
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = strawberry.field(description="Noted at most once a minute.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: models.ApiKey, role) -> ApiKey:
        return cls(
            id=to_id(key.id),
            name=key.name,
            prefix=key.prefix,
            role=role,
            scope=key.scope,
            section_id=to_id(key.section_id) if key.section_id else None,
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


@strawberry.input
class CreateApiKeyInput:
    name: str
    role: Role
    scope: ApiKeyScope = models.ApiKeyScope.FULL
    section_id: strawberry.ID | None = strawberry.field(
        default=None, description="Narrow the key to reading this one section."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description=f"Default: {service.DEFAULT_DAYS} days from now."
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKey
    secret: str = strawberry.field(
        description="The whole key. Shown this once: only its hash is stored."
    )


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKey


@strawberry.type
class ApiKeyQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Admins: newest first.")
    async def api_keys(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ApiKey]:
        ctx = info.context
        page = await service.list_keys(ctx.session, ctx.actor, ctx.page(first, after))
        accounts = await ctx.loaders.users.load_many([key.user_id for key in page.items])
        roles = {key.id: account.role for key, account in zip(page.items, accounts, strict=True)}
        return Connection.of(page, lambda key: ApiKey.of(key, roles[key.id]))


@strawberry.type
class ApiKeyMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: a key for an integration. The secret is in this answer only.",
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        ctx = info.context
        fields = service.KeyFields(
            name=input.name,
            role=input.role,
            scope=input.scope,
            section_id=parse_optional_id(input.section_id, "sectionId"),
            expires_at=input.expires_at,
        )
        created = await service.create_key(ctx.session, ctx.actor, fields)
        return CreateApiKeyPayload(
            api_key=ApiKey.of(created.key, input.role), secret=created.secret
        )

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: the key stops working at once, live subscriptions included.",
    )
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyPayload:
        ctx = info.context
        key = await service.revoke_key(ctx.session, ctx.actor, parse_id(id), ctx.runtime.broker)
        role = await service.role_of(ctx.session, key)
        return RevokeApiKeyPayload(api_key=ApiKey.of(key, role))
