from __future__ import annotations

from datetime import datetime

import strawberry

from api.accounts import invites, models, service
from api.accounts.events import AccountEventKind, publish_account_event
from api.accounts.mail import Letter, send_letters
from api.graphql.context import Info
from api.graphql.ids import parse_id, to_id
from api.graphql.permissions import IsAuthenticated

Role = strawberry.enum(models.Role, name="Role")
AccountLinkPurpose = strawberry.enum(models.LinkPurpose, name="AccountLinkPurpose")


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

    @classmethod
    def of(cls, result: service.LoginResult) -> LoginPayload:
        return cls(
            token=result.token, expires_at=result.expires_at, user=User.from_model(result.user)
        )


@strawberry.input
class SignUpInput:
    name: str
    email: str
    password: str
    join_code: str


@strawberry.type
class SignUpPayload:
    message: str = strawberry.field(
        description="The same whether the email was new or already had an account: sign in "
        "next with the email and password."
    )


@strawberry.type
class SignOutPayload:
    signed_out: bool


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.type
class AccountLinkInfo:
    """What a one-time link is for, shown on the page that accepts it."""

    purpose: AccountLinkPurpose
    name: str
    email: str
    expires_at: datetime


@strawberry.input
class AcceptAccountLinkInput:
    token: str = strawberry.field(description="The `token` of the link's address.")
    password: str


@strawberry.type
class AccountLinkPayload:
    """A one-time link (shown once: only its hash is stored)."""

    url: str
    purpose: AccountLinkPurpose
    expires_at: datetime
    emailed: bool = strawberry.field(description="Sent to the user's email (PRACTICUM_SMTP_URL).")
    user: User


def _tell(info: Info, user_id, kind: AccountEventKind, login_id=None) -> None:
    """Once committed: the account's live subscriptions check their login again now."""
    broker = info.context.runtime.broker
    info.context.after_commit(lambda: publish_account_event(broker, user_id, kind, login_id))


async def deliver(info: Info, letters: list[Letter]) -> dict[str, bool]:
    """Email the letters once the links they carry are committed (a link mailed from a
    rolled-back operation would never work); which recipients' mail was accepted."""
    if not letters:
        return {}
    await info.context.session.commit()
    return await send_letters(info.context.settings, letters)


@strawberry.type
class AccountQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The logged-in user.")
    async def me(self, info: Info) -> User:
        return User.from_model(await service.get_me(info.context.session, info.context.actor))

    @strawberry.field(
        description="Whether students may sign up with a join code on this Practicum."
    )
    def sign_up_available(self, info: Info) -> bool:
        return info.context.settings.self_signup

    @strawberry.field(
        description="What an invite or password-reset link is for, while it can be used "
        "(NOT_FOUND once used, expired or replaced)."
    )
    async def account_link(self, info: Info, token: str) -> AccountLinkInfo:
        link, user = await invites.inspect_link(info.context.session, token)
        return AccountLinkInfo(
            purpose=link.purpose, name=user.name, email=user.email, expires_at=link.expires_at
        )


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
        return LoginPayload.of(result)

    @strawberry.mutation(
        description="A student makes an account with a section's join code and is enrolled "
        "in it. Rate limited per address; the answer never tells whether the email was taken."
    )
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        ctx = info.context
        message = await service.sign_up(
            ctx.session,
            ctx.settings,
            name=input.name,
            email=input.email,
            password=input.password,
            join_code=input.join_code,
            limits=ctx.runtime.rate_limits,
            client_ip=ctx.client_ip,
        )
        return SignUpPayload(message=message)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End this token on the server (its live subscriptions close).",
    )
    async def sign_out(self, info: Info) -> SignOutPayload:
        ctx = info.context
        login = ctx.login
        kind = await service.sign_out(ctx.session, ctx.actor, login)
        _tell(info, ctx.actor.id, kind, login.login_id)
        return SignOutPayload(signed_out=True)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End every token of this account, this one included.",
    )
    async def sign_out_everywhere(self, info: Info) -> SignOutPayload:
        ctx = info.context
        kind = await service.sign_out_everywhere(ctx.session, ctx.actor)
        _tell(info, ctx.actor.id, kind)
        return SignOutPayload(signed_out=True)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="A new password, given the current one. Every login of the account ends; "
        "the answer is a new login to go on with.",
    )
    async def change_password(self, info: Info, input: ChangePasswordInput) -> LoginPayload:
        ctx = info.context
        result = await service.change_password(
            ctx.session,
            ctx.settings,
            ctx.actor,
            current_password=input.current_password,
            new_password=input.new_password,
            limits=ctx.runtime.rate_limits,
            client_ip=ctx.client_ip,
        )
        _tell(info, ctx.actor.id, AccountEventKind.PASSWORD_CHANGED)
        return LoginPayload.of(result)

    @strawberry.mutation(
        description="Set a password with an invite or password-reset link (once). Every "
        "earlier login of the account ends; the answer is a new login."
    )
    async def accept_account_link(self, info: Info, input: AcceptAccountLinkInput) -> LoginPayload:
        ctx = info.context
        result = await invites.accept_link(ctx.session, ctx.settings, input.token, input.password)
        _tell(info, result.user.id, AccountEventKind.PASSWORD_RESET)
        return LoginPayload.of(result)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: a one-time link for the user to set a new password (emailed "
        "when PRACTICUM_SMTP_URL is set).",
    )
    async def issue_password_reset(self, info: Info, user_id: strawberry.ID) -> AccountLinkPayload:
        ctx = info.context
        link = await invites.issue_password_reset(
            ctx.session, ctx.settings, ctx.actor, parse_id(user_id, "userId")
        )
        emailed = await deliver(info, [link.letter] if link.letter else [])
        return AccountLinkPayload(
            url=link.url,
            purpose=link.purpose,
            expires_at=link.expires_at,
            emailed=emailed.get(link.user.email, False),
            user=User.from_model(link.user),
        )
