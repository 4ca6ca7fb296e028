"""The message and login rate limits, as admins see and change them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from api.graphql.context import Info
from api.graphql.permissions import IsAuthenticated
from api.limits import service


@strawberry.type(
    description="The message and login limits in force (moving windows). Each is a count per "
    'period, like "10/minute" or "100 per hour", or "" when off.'
)
class RateLimits:
    messages_per_student: str = strawberry.field(description="Messages one student may send.")
    messages_global: str = strawberry.field(description="Messages everyone together may send.")
    logins_per_address: str = strawberry.field(description="Login attempts from one address.")
    logins_per_email: str = strawberry.field(description="Login attempts for one email.")
    updated_at: datetime | None = strawberry.field(
        description="When an admin last set them; null while the environment's defaults apply."
    )

    @classmethod
    def of(cls, current: service.CurrentRateLimits) -> RateLimits:
        specs = current.specs
        return cls(
            messages_per_student=specs.messages_per_student,
            messages_global=specs.messages_global,
            logins_per_address=specs.logins_per_address,
            logins_per_email=specs.logins_per_email,
            updated_at=current.updated_at,
        )


@strawberry.input(description="Null leaves a limit as it is; an empty string turns it off.")
class SetRateLimitsInput:
    messages_per_student: str | None = None
    messages_global: str | None = None
    logins_per_address: str | None = None
    logins_per_email: str | None = None


@strawberry.type
class SetRateLimitsPayload:
    rate_limits: RateLimits


@strawberry.type
class LimitQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Admins: the rate limits in force."
    )
    async def rate_limits(self, info: Info) -> RateLimits:
        ctx = info.context
        current = await service.get_rate_limits(ctx.session, ctx.actor, ctx.runtime.rate_limits)
        return RateLimits.of(current)


@strawberry.type
class LimitMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: change the rate limits. They apply at once in this process, and "
        "within PRACTICUM_RATE_LIMIT_REFRESH_SECONDS (5 s) in others sharing the database.",
    )
    async def set_rate_limits(self, info: Info, input: SetRateLimitsInput) -> SetRateLimitsPayload:
        ctx = info.context
        changes = service.RateLimitChanges(
            messages_per_student=input.messages_per_student,
            messages_global=input.messages_global,
            logins_per_address=input.logins_per_address,
            logins_per_email=input.logins_per_email,
        )
        current = await service.set_rate_limits(
            ctx.session, ctx.actor, ctx.runtime.rate_limits, changes
        )
        return SetRateLimitsPayload(rate_limits=RateLimits.of(current))
