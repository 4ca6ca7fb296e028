"""The typed GraphQL context and the unit of work each operation runs in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass

from graphql import OperationType
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from api.accounts.security import Actor, TokenError, read_token
from api.config import Settings
from api.errors import PracticumError
from api.graphql.dataloaders import Loaders
from api.pagination import PageRequest
from api.runtime import Runtime


@dataclass
class Operation:
    """Per-operation state: one DB session (one commit) and fresh dataloaders."""

    session: AsyncSession
    loaders: Loaders


# A websocket shares one Context across concurrent operations; each runs in its own
# task, so the operation's session lives in a ContextVar rather than on the Context.
_operation: ContextVar[Operation] = ContextVar("practicum_operation")


class Context(BaseContext):
    def __init__(self, runtime: Runtime, authorization: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self._actor: Actor | None = None
        self._auth_error: PracticumError | None = None
        self.authenticate(authorization)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def authenticate(self, authorization: str | None) -> None:
        """Read `Bearer <token>`; a bad token is only an error once a field needs a user."""
        self._actor, self._auth_error = None, None
        if not authorization:
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._auth_error = PracticumError.unauthenticated(
                "The Authorization header must be `Bearer <token>`."
            )
            return
        try:
            self._actor = read_token(token.strip(), self.settings.signing_secret())
        except TokenError as exc:
            message = (
                "Your login has expired; log in again."
                if exc.expired
                else "Your login token is not valid; log in again."
            )
            self._auth_error = PracticumError.unauthenticated(message)

    @property
    def auth_error(self) -> PracticumError | None:
        return self._auth_error

    @property
    def actor(self) -> Actor:
        if self._actor is None:
            raise self._auth_error or PracticumError.unauthenticated()
        return self._actor

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
            token = _operation.set(Operation(session=session, loaders=Loaders(session)))
            try:
                yield
                if getattr(execution.result, "errors", None):
                    await session.rollback()
                else:
                    await session.commit()
            finally:
                _operation.reset(token)
