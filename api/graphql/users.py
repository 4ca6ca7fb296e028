"""User administration for admins: list and search, create, change roles, deactivate,
reactivate and erase."""

from __future__ import annotations

import strawberry

from api.accounts import admin
from api.graphql.accounts import Role, User
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection


@strawberry.input
class UserFilter:
    text: str | None = strawberry.field(
        default=None, description="Part of the name or email, in any case."
    )
    role: Role | None = None
    active: bool | None = None
    section_id: strawberry.ID | None = strawberry.field(
        default=None, description="The section's students and its teacher."
    )


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    role: Role
    password: str | None = strawberry.field(
        default=None,
        description="Leave it out and the person sets their own through a password-reset "
        "link; until then the account cannot sign in.",
    )


@strawberry.type
class CreateUserPayload:
    user: User


@strawberry.type
class UserPayload:
    user: User


@strawberry.type
class EraseStudentPayload:
    user: User
    sessions: int = strawberry.field(description="Conversations whose content was erased.")
    messages: int = strawberry.field(description="Messages whose content was erased.")
    feedback: int = strawberry.field(description="Ratings whose comment was erased.")


@strawberry.type
class UserAdminQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Admins: people with an account, by name (API keys are listed apart).",
    )
    async def users(
        self,
        info: Info,
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[User]:
        ctx = info.context
        where = admin.UserFilter()
        if filter is not None:
            where = admin.UserFilter(
                text=filter.text,
                role=filter.role,
                active=filter.active,
                section_id=parse_optional_id(filter.section_id, "sectionId"),
            )
        page = await admin.list_users(ctx.session, ctx.actor, ctx.page(first, after), where)
        return Connection.of(page, User.from_model)

    @strawberry.field(permission_classes=[IsAuthenticated], description="Admins: one account.")
    async def user(self, info: Info, id: strawberry.ID) -> User:
        ctx = info.context
        return User.from_model(await admin.get_user(ctx.session, ctx.actor, parse_id(id)))


@strawberry.type
class UserAdminMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: create a student, teacher or admin account.",
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        ctx = info.context
        user = await admin.create_account(
            ctx.session,
            ctx.actor,
            email=input.email,
            name=input.name,
            role=input.role,
            password=input.password,
        )
        return CreateUserPayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: change an account's role; it applies at the account's next "
        "request. The last active admin cannot be demoted (CONFLICT).",
    )
    async def set_user_role(self, info: Info, id: strawberry.ID, role: Role) -> UserPayload:
        ctx = info.context
        user = await admin.set_role(ctx.session, ctx.actor, parse_id(id), role, ctx.runtime.broker)
        return UserPayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: the account can no longer sign in; its logins and live "
        "subscriptions end at once. The last active admin cannot be deactivated (CONFLICT).",
    )
    async def deactivate_user(self, info: Info, id: strawberry.ID) -> UserPayload:
        ctx = info.context
        user = await admin.deactivate(ctx.session, ctx.actor, parse_id(id), ctx.runtime.broker)
        return UserPayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: the account may sign in again (with a new login).",
    )
    async def reactivate_user(self, info: Info, id: strawberry.ID) -> UserPayload:
        ctx = info.context
        user = await admin.reactivate(ctx.session, ctx.actor, parse_id(id))
        return UserPayload(user=User.from_model(user))

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Admins: erase a student's personal data on request (name, email, what "
        "their conversations say, their ratings' comments) and end the account for good. "
        "Usage, costs and daily figures stay exact. Cannot be undone.",
    )
    async def erase_student(self, info: Info, id: strawberry.ID) -> EraseStudentPayload:
        ctx = info.context
        done = await admin.erase_student(ctx.session, ctx.actor, parse_id(id), ctx.runtime.broker)
        return EraseStudentPayload(
            user=User.from_model(done.user),
            sessions=done.sessions,
            messages=done.messages,
            feedback=done.feedback,
        )
