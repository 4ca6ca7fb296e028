from __future__ import annotations

from datetime import datetime

import strawberry

from api.accounts import models, service
from api.graphql.context import Info
from api.graphql.ids import to_id
from api.graphql.permissions import IsAuthenticated

Role = strawberry.enum(models.Role, name="Role")


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    role: Role
    active: bool
    created_at: datetime
    erased: bool = strawberry.field(
        default=False, description="An admin erased the person's details on request."
    )

    @classmethod
    def from_model(cls, user: models.User) -> User:
        return cls(
            id=to_id(user.id),
            email=user.email,
            name=user.name,
            role=user.role,
            active=user.active,
            created_at=user.created_at,
            erased=user.erased_at is not None,
        )


@strawberry.type
class LoginPayload:
    token: str = strawberry.field(description="Send as `Authorization: Bearer <token>`.")
    expires_at: datetime
    user: User


@strawberry.type
class AccountQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The logged-in user.")
    async def me(self, info: Info) -> User:
        return User.from_model(await service.get_me(info.context.session, info.context.actor))


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Exchange email and password for an access token.")
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        result = await service.login(
            info.context.session,
            info.context.settings,
            email=email,
            password=password,
            limits=info.context.runtime.rate_limits,
            client_ip=info.context.client_ip,
        )
        return LoginPayload(
            token=result.token, expires_at=result.expires_at, user=User.from_model(result.user)
        )
