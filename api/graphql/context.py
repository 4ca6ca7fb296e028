"""The typed GraphQL context and the unit of work each operation runs in."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass

from graphql import OperationType
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from api.accounts import service as accounts
from api.accounts.security import Actor, Login, TokenError, read_token
from api.config import Settings
from api.errors import PracticumError
from api.graphql.dataloaders import Loaders
from api.pagination import PageRequest
from api.runtime import Runtime


@dataclass
class Operation:
    """Per-operation state: one DB session (one commit), fresh dataloaders, and the acting
    user as stored when the operation began (or why there is none)."""

    session: AsyncSession
    loaders: Loaders
    actor: Actor | None = None
    auth_error: PracticumError | None = None


# A websocket shares one Context across concurrent operations; each runs in its own
# task, so the operation's session lives in a ContextVar rather than on the Context.
_operation: ContextVar[Operation] = ContextVar("practicum_operation")


class Context(BaseContext):
    def __init__(self, runtime: Runtime, authorization: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self._login: Login | None = None
        self._auth_error: PracticumError | None = None
        self.authenticate(authorization)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def authenticate(self, authorization: str | None) -> None:
        """Read `Bearer <token>`; a bad token is only an error once a field needs a user."""
        self._login, self._auth_error = None, None
        if not authorization:
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._auth_error = PracticumError.unauthenticated(
                "The Authorization header must be `Bearer <token>`."
            )
            return
        try:
            self._login = read_token(token.strip(), self.settings.signing_secret())
        except TokenError as exc:
            self._auth_error = _token_error(exc)

    @property
    def auth_error(self) -> PracticumError | None:
        return self._auth_error

    @property
    def login(self) -> Login | None:
        """The login the token carries (checked for expiry by `user_id`), if any."""
        return self._login

    @property
    def signed_in(self) -> bool:
        return self._login is not None or self._auth_error is not None

    def user_id(self) -> uuid.UUID:
        """Whose login this is, while it has not expired: checked at every use, since a
        websocket outlives its token."""
        if self._login is None:
            raise self._auth_error or PracticumError.unauthenticated()
        try:
            return self._login.check().user_id
        except TokenError as exc:
            raise _token_error(exc) from exc

    async def stored_actor(self, session: AsyncSession) -> Actor:
        """The acting user as stored now (role, active), read on `session`, with the
        client's address (for the audit log)."""
        actor = await accounts.stored_actor(session, self.user_id())
        return dataclasses.replace(actor, address=self.client_ip)

    async def current_actor(self) -> Actor:
        """`stored_actor` outside an operation (subscriptions), on a short session."""
        async with self.runtime.read_sessions() as session:
            return await self.stored_actor(session)

    @property
    def actor(self) -> Actor:
        """The acting user of this query or mutation, as stored when it began."""
        operation = _operation.get(None)
        if operation is None:
            raise RuntimeError("Subscriptions read the actor with `await current_actor()`.")
        if operation.actor is None:
            raise operation.auth_error or PracticumError.unauthenticated()
        return operation.actor

    @property
    def session(self) -> AsyncSession:
        return _operation.get().session

    @property
    def loaders(self) -> Loaders:
        return _operation.get().loaders

    @property
    def client_ip(self) -> str | None:
        client = getattr(getattr(self, "request", None), "client", None)
        return client.host if client else None

    def page(self, first: int | None, after: str | None) -> PageRequest:
        return PageRequest.of(self.settings, first, after)


def _token_error(exc: TokenError) -> PracticumError:
    return PracticumError.unauthenticated(
        "Your login has expired; log in again."
        if exc.expired
        else "Your login token is not valid; log in again."
    )


Info = StrawberryInfo[Context, None]


class UnitOfWork(SchemaExtension):
    """Opens the operation's DB session; commits when it succeeded, rolls back on any error."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context: Context = execution.context
        if execution.operation_type is OperationType.SUBSCRIPTION:
            yield  # subscriptions open short sessions of their own
            return
        runtime = context.runtime
        reading = execution.operation_type is OperationType.QUERY
        async with (runtime.read_sessions if reading else runtime.sessions)() as session:
            operation = Operation(session=session, loaders=Loaders(session))
            token = _operation.set(operation)
            try:
                await _authorise(context, operation)
                yield
                if getattr(execution.result, "errors", None):
                    await session.rollback()
                else:
                    await session.commit()
            finally:
                _operation.reset(token)


async def _authorise(context: Context, operation: Operation) -> None:
    """Load the acting user once per operation (the session's identity map keeps the row
    for later reads); the error waits until a field needs a user."""
    if not context.signed_in:
        return
    try:
        operation.actor = await context.stored_actor(operation.session)
    except PracticumError as error:
        operation.auth_error = error
