"""graphql-transport-ws on /graphql, held to the limits HTTP requests have.

Strawberry runs the protocol; this module adds, per socket: the login's expiry (the
socket closes with 4401 when the token expires, and every operation checks it), the
per-address request limit of HTTP (each `subscribe` takes one request from the same
counter), the request size limit (a larger frame closes the socket with 1009), an idle
timeout, and caps on open sockets per address and per account (4429).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Coroutine
from json import JSONDecodeError

from limits import RateLimitItem, parse
from slowapi import Limiter
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    SubscribeMessage,
)

from api.config import Settings
from api.errors import ErrorCode, PracticumError
from api.graphql.context import Context
from api.graphql.http import TooDeep, load_json
from api.graphql.shared_events import encoded_data, sending_next_with
from api.limits.rate import seconds_until
from api.ops import metrics
from api.runtime import Runtime

# Close codes. The client signs in again before reconnecting after LOGIN_EXPIRED, backs
# off after TOO_MANY_SOCKETS, and reconnects when it next needs the socket after IDLE.
LOGIN_EXPIRED = 4401
TOO_MANY_SOCKETS = 4429
MESSAGE_TOO_BIG = 1009
IDLE = 1000
# After an account event ends the login: how long its subscriptions get to send their own
# UNAUTHENTICATED error before the socket closes.
SUBSCRIPTIONS_END_SECONDS = 1.0

# The path slowapi counts /graphql's HTTP requests under (its default `key_style="url"`):
# operations over the socket share that counter.
HTTP_LIMIT_SCOPE = "/graphql"


class SocketLimits:
    """This process's open sockets per address and per account, the per-address request
    limit shared with HTTP (slowapi's limiter and storage), and the idle timeouts."""

    def __init__(self, settings: Settings, http_limiter: Limiter) -> None:
        self.settings = settings
        spec = settings.http_rate_limit_per_ip.strip()
        self._requests: RateLimitItem | None = parse(spec) if spec else None
        self._limiter = http_limiter.limiter
        self._trusted = {peer.strip() for peer in settings.trusted_proxies.split(",")}
        self._addresses: Counter[str] = Counter()
        self._users: Counter[uuid.UUID] = Counter()

    def limits_address(self, address: str) -> bool:
        """A trusted proxy that names no client (the web UI's server before it forwards
        the browser's address) is not one client: per-address limits skip it."""
        return address not in self._trusted

    def open_address(self, address: str) -> bool:
        return self._open(self._addresses, address, self.settings.ws_max_sockets_per_ip)

    def open_user(self, user_id: uuid.UUID) -> bool:
        return self._open(self._users, user_id, self.settings.ws_max_sockets_per_user)

    def close_address(self, address: str) -> None:
        self._close(self._addresses, address)

    def close_user(self, user_id: uuid.UUID) -> None:
        self._close(self._users, user_id)

    @staticmethod
    def _open(counts: Counter, key, cap: int) -> bool:
        if counts[key] >= cap:
            return False
        counts[key] += 1
        return True

    @staticmethod
    def _close(counts: Counter, key) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]

    def take_request(self, address: str) -> int | None:
        """One request of the address's HTTP quota: None, or the seconds to wait."""
        if self._requests is None or self._limiter.hit(self._requests, address, HTTP_LIMIT_SCOPE):
            return None
        stats = self._limiter.get_window_stats(self._requests, address, HTTP_LIMIT_SCOPE)
        metrics.RATE_LIMITED.labels(rule="http_per_ip").inc()
        return seconds_until(stats.reset_time)

    def idle_seconds(self, signed_in: bool) -> float:
        if signed_in:
            return self.settings.ws_idle_seconds
        return self.settings.ws_anonymous_idle_seconds


class SizeLimitedAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI adapter, refusing frames larger than an HTTP request may be."""

    view: GraphQLWebSocket

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        most = self.view.limits.settings.max_request_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > most or (len(text) * 4 > most and len(text.encode()) > most):
                    await self.close(MESSAGE_TOO_BIG, f"Messages are limited to {most} bytes")
                    return
                try:
                    message = self.view.decode_json(text)
                except JSONDecodeError as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                yield message
        except KeyError as error:  # a binary frame
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def send_text(self, text: str) -> None:
        """A message already encoded (as `send_json` would have)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


class LimitedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler with the limits in the module's doc."""

    view: GraphQLWebSocket
    websocket: SizeLimitedAdapter
    context: Context

    async def send_message(self, message) -> None:
        """As Strawberry sends it; a `next` message of an event shared by many sockets
        reuses the JSON of its data, encoded once for all of them."""
        if message["type"] == "next" and message["payload"].keys() == {"data"}:
            data = encoded_data(message["payload"]["data"], self.view.encode_json_string)
            if data is not None:
                await self.websocket.send_text(self._next_frame(message["id"], data))
                return
        await super().send_message(message)

    def _next_frame(self, operation_id: str, data: str) -> str:
        operation_id = self.view.encode_json_string(operation_id)
        return f'{{"id":{operation_id},"type":"next","payload":{{"data":{data}}}}}'

    async def run_operation(self, operation: Operation) -> None:
        sending_next_with(functools.partial(self._send_now, operation))
        await super().run_operation(operation)

    def _send_now(self, operation: Operation, data: object) -> bool | asyncio.Task:
        """Sends the operation the `next` message of a shared event's `data`, in the
        caller's own call as far as the socket takes it at once (then a task finishes);
        False when it cannot (the operation ended, data of its own)."""
        if operation.completed or self.operations.get(operation.id) is not operation:
            return False
        encoded = encoded_data(data, self.view.encode_json_string)
        if encoded is None:
            return False
        sending = self.websocket.send_text(self._next_frame(operation.id, encoded))
        try:
            waits_for = sending.send(None)
        except StopIteration:
            return True
        except Exception:  # the socket is closing: the operation's task finds out itself
            return False
        return asyncio.ensure_future(_finish(sending, waits_for))

    async def handle(self) -> None:
        limits = self.view.limits
        self._user: uuid.UUID | None = None
        self._account_watch: asyncio.Task | None = None
        self._last_active = time.monotonic()
        client = self.context.request.client
        self._address = client.host if client else "unknown"
        counted = limits.limits_address(self._address)
        if counted and not limits.open_address(self._address):
            await self.websocket.close(TOO_MANY_SOCKETS, "Too many connections from your address")
            return
        watchdog = asyncio.create_task(self._watch())
        try:
            await super().handle()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            if self._account_watch is not None:
                self._account_watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._account_watch
            if counted:
                limits.close_address(self._address)
            if self._user is not None:
                limits.close_user(self._user)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        login = self.context.login
        if not self.connection_acknowledged or login is None or self._user is not None:
            return
        if not self.view.limits.open_user(login.user_id):
            await self.websocket.close(TOO_MANY_SOCKETS, "Too many connections for your account")
            return
        self._user = login.user_id
        self._account_watch = asyncio.create_task(self._watch_account(login.user_id))

    async def _watch_account(self, user_id: uuid.UUID) -> None:
        """On each account event about this socket's user (api/accounts/events.py: signed
        out, a new password, deactivated...), check the login again: when it no longer lets
        the socket act, close it (4401) at once, whatever its subscriptions are waiting on."""
        async with self.context.runtime.account_watch.watching(user_id) as changed:
            while True:
                await changed.wait()
                changed.clear()
                try:
                    await self.context.current_actor()
                except PracticumError as error:
                    if error.code is not ErrorCode.UNAUTHENTICATED:
                        continue  # e.g. a narrowed key: its operations refuse by themselves
                    # The subscriptions re-check on the same event and end with the error
                    # (the client learns why); then the socket closes.
                    deadline = time.monotonic() + SUBSCRIPTIONS_END_SECONDS
                    while self.operations and time.monotonic() < deadline:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    for operation_id in list(self.operations):
                        await self.cleanup_operation(operation_id)
                    with contextlib.suppress(RuntimeError):
                        await self.websocket.close(LOGIN_EXPIRED, error.message[:120])
                    return

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        self._last_active = time.monotonic()
        if self.connection_acknowledged:
            if self._login_expired():
                await self._close_expired()
                return
            if self.view.limits.limits_address(self._address):
                retry_after = self.view.limits.take_request(self._address)
                if retry_after is not None:
                    await self.send_message(_rate_limited(message["id"], retry_after))
                    return
        await super().handle_subscribe(message)

    async def handle_complete(self, message: CompleteMessage) -> None:
        await super().handle_complete(message)
        self._last_active = time.monotonic()

    def forget_id(self, id: str) -> None:
        super().forget_id(id)
        self._last_active = time.monotonic()

    def _login_expired(self) -> bool:
        login = self.context.login
        return login is not None and login.seconds_left() <= 0

    async def _close_expired(self) -> None:
        for operation_id in list(self.operations):  # nothing more is sent for this login
            await self.cleanup_operation(operation_id)
        await self.websocket.close(LOGIN_EXPIRED, "Your login has expired; log in again")

    async def _watch(self) -> None:
        """Close the socket when its login expires, or when it has run nothing for the
        idle time (shorter without a login)."""
        while True:
            login = self.context.login
            idle_limit = self.view.limits.idle_seconds(signed_in=login is not None)
            idle_left = idle_limit - (time.monotonic() - self._last_active)
            if self.operations:
                idle_left = idle_limit
            elif idle_left <= 0:
                await self.websocket.close(IDLE, "Closed after being idle")
                return
            wait = idle_left
            if login is not None:
                if login.seconds_left() <= 0:
                    await self._close_expired()
                    return
                wait = min(wait, login.seconds_left())
            await asyncio.sleep(max(wait, 0.05))


async def _finish(sending: Coroutine, waits_for: object) -> None:
    """The rest of a send started by hand that now waits (for the socket to take more)."""
    try:
        while True:
            if waits_for is None:
                await asyncio.sleep(0)
            else:
                await waits_for
            waits_for = sending.send(None)
    except StopIteration:
        pass
    except Exception:  # the socket closed meanwhile: the operation's task finds out itself
        pass
    finally:
        sending.close()


def _rate_limited(operation_id: str, retry_after: int) -> dict:
    error = {
        "message": f"Too many requests from your address. Try again in {retry_after} s.",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
    }
    return {"id": operation_id, "type": "error", "payload": [error]}


class GraphQLWebSocket(GraphQLRouter):
    """graphql-transport-ws on /graphql; the token comes in the `connection_init` payload."""

    graphql_transport_ws_handler_class = LimitedTransportWSHandler
    websocket_adapter_class = SizeLimitedAdapter  # type: ignore[assignment]
    limits: SocketLimits

    async def on_ws_connect(self, context: Context):
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        if not authorization and params.get("token"):
            authorization = f"Bearer {params['token']}"
        context.authenticate(authorization)
        if context.auth_error is not None:
            raise ConnectionRejectionError(
                {"message": context.auth_error.message, "code": context.auth_error.code.value}
            )
        return None

    def decode_json(self, data: str | bytes) -> object:
        # Too deep to handle is invalid JSON to Strawberry: it closes the socket with 4400.
        try:
            return load_json(data)
        except TooDeep as error:
            raise JSONDecodeError(f"The message is {error}.", "", 0) from error


def graphql_websocket(schema, runtime: Runtime, http_limiter: Limiter) -> GraphQLWebSocket:
    """The websocket route of /graphql (HTTP is served by `GraphQLHTTP`)."""
    router = GraphQLWebSocket(
        schema,
        path="/graphql",
        graphql_ide=None,
        context_getter=lambda: Context(runtime),
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
    router.limits = SocketLimits(runtime.settings, http_limiter)
    router.routes = [r for r in router.routes if isinstance(r, WebSocketRoute)]
    return router
