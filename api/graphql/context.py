"""The typed GraphQL context and the unit of work each operation runs in."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
)
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types import Info as StrawberryInfo

from api.accounts import service as accounts
from api.accounts.security import Actor, Login, TokenError, read_token
from api.api_keys import service as api_keys
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
    after_commit: list[Callable[[], None]] = field(default_factory=list)


# A websocket shares one Context across concurrent operations; each runs in its own
# task, so the operation's session lives in a ContextVar rather than on the Context.
_operation: ContextVar[Operation] = ContextVar("practicum_operation")


class Context(BaseContext):
    def __init__(self, runtime: Runtime, authorization: str | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self._login: Login | None = None
        self._api_key: str | None = None
        self._auth_error: PracticumError | None = None
        self.authenticate(authorization)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def authenticate(self, authorization: str | None) -> None:
        """Read `Bearer <token>`; a bad token is only an error once a field needs a user.
        An API key (`pk_...`) is looked up in the database at each operation instead."""
        self._login, self._api_key, self._auth_error = None, None, None
        if not authorization:
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._auth_error = PracticumError.unauthenticated(
                "The Authorization header must be `Bearer <token>`."
            )
            return
        if api_keys.looks_like_a_key(token.strip()):
            self._api_key = token.strip()
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
    def with_api_key(self) -> bool:
        return self._api_key is not None

    @property
    def signed_in(self) -> bool:
        return self._login is not None or self._auth_error is not None or self.with_api_key

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
        """The acting user as stored now (role, active, the login not ended), read on
        `session`, with the client's address (for the audit log)."""
        if self._api_key is not None:
            actor = await api_keys.key_actor(session, self._api_key, self.client_ip)
            self.runtime.api_key_uses.used(actor)
            return actor
        user_id = self.user_id()
        login = self._login
        actor = await accounts.stored_actor(session, user_id, login.login_id, login.generation)
        return dataclasses.replace(actor, address=self.client_ip)

    def login_key(self) -> tuple:
        """Who acts, as far as the stored account can tell: the same for every socket of
        one login (or API key). Raises like `user_id` once the login has expired."""
        if self._api_key is not None:
            return ("key", self._api_key)
        login = self._login
        return ("login", self.user_id(), login.login_id, login.generation)

    async def current_actor(self) -> Actor:
        """`stored_actor` outside an operation (subscriptions), on a short session."""
        async with self.runtime.read_sessions() as session:
            actor = await self.stored_actor(session)
        if api_keys.narrowed(actor):
            raise api_keys.ApiKeyError.forbidden("This API key may only read; it cannot subscribe.")
        return actor

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

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once this operation's changes are committed (not if they are rolled
        back): e.g. telling live subscriptions to re-check what was just changed."""
        _operation.get().after_commit.append(action)

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
                _narrow_to_the_key(execution, operation)
                yield
                if getattr(execution.result, "errors", None):
                    await session.rollback()
                else:
                    await session.commit()
                    for action in operation.after_commit:
                        action()
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


def _narrow_to_the_key(execution, operation: Operation) -> None:
    """An operation an API key may not run (narrowed by its scope, or one for people's own
    accounts) fails as a whole, before it runs."""
    actor = operation.actor
    if actor is None or actor.api_key_id is None:
        return
    fields = root_fields(execution.graphql_document, execution.operation_name)
    mutation = execution.operation_type is OperationType.MUTATION
    refused = api_keys.refusal(actor, fields, mutation)
    if refused is not None:
        # As a field's error (the operation was understood, then refused): data is null.
        first = sorted(fields - api_keys.ALWAYS) or sorted(fields) or ["operation"]
        error = GraphQLError(refused.message, path=[first[0]], original_error=refused)
        execution.result = ExecutionResult(data=None, errors=[error])


def root_fields(document: DocumentNode | None, operation_name: str | None) -> set[str]:
    """The names of the fields an operation asks for at its root (through fragments)."""
    if document is None:
        return set()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name is not None and o.name.value == operation_name)
    ]
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selections) -> None:
        for selection in selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set.selections)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    walk(fragments[name].selection_set.selections)

    for operation in chosen[:1]:
        walk(operation.selection_set.selections)
    return names
