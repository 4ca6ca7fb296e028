"""The UI's GraphQL client (gql): queries and mutations over HTTP, subscriptions over
graphql-transport-ws. Errors come back as `ApiError` with the API's stable code and a
message written for the person at the screen."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportQueryError,
    TransportServerError,
)
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from ui.graphql.operations import document

UNREACHABLE = "UNREACHABLE"


def api_url() -> str:
    return os.environ.get("PRACTICUM_API_URL", "http://127.0.0.1:8000/graphql")


@dataclass
class ApiError(Exception):
    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message

    @classmethod
    def from_graphql(cls, error: dict[str, Any]) -> ApiError:
        extensions = error.get("extensions") or {}
        fields = {f["field"]: f["message"] for f in extensions.get("fields") or []}
        return cls(
            code=extensions.get("code", "INTERNAL"),
            message=error.get("message") or "Something went wrong.",
            fields=fields,
            retry_after=extensions.get("retryAfter"),
        )


def _unreachable() -> ApiError:
    # A new error each time: a raised exception carries its own traceback and cause.
    return ApiError(
        UNREACHABLE, "Practicum cannot be reached just now. Check your connection and try again."
    )


class _Http:
    """One gql session per process; each request carries its own user's token."""

    def __init__(self) -> None:
        self._session = None
        self._lock = asyncio.Lock()

    async def session(self):
        async with self._lock:
            if self._session is None:
                client = Client(transport=HTTPXAsyncTransport(url=api_url(), timeout=30))
                self._session = await client.connect_async(reconnecting=False)
        return self._session


_http = _Http()


def _headers(token: str | None, client_ip: str = "") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if client_ip:
        # The API limits logins and requests per address: name the browser's, not ours.
        headers["X-Forwarded-For"] = client_ip
    return headers


async def execute(
    operation: str, token: str | None = None, client_ip: str = "", /, **variables: Any
) -> dict[str, Any]:
    """Run a named query or mutation; returns its `data` or raises `ApiError`. The first
    three are positional only, so that an operation may have a variable named `token`
    (e.g. `AccountLink`)."""
    request = GraphQLRequest(document(operation), variable_values=variables or None)
    try:
        session = await _http.session()
        headers = _headers(token, client_ip)
        return await session.execute(request, extra_args={"headers": headers})
    except TransportQueryError as error:
        raise ApiError.from_graphql((error.errors or [{}])[0]) from error
    except TransportServerError as error:
        if error.code == 429:
            raise ApiError(
                "RATE_LIMITED", "Too many requests just now. Wait a moment and try again."
            ) from error
        raise _unreachable() from error
    except (OSError, TransportConnectionFailed, TransportClosed) as error:
        raise _unreachable() from error


def _ws_url() -> str:
    return api_url().replace("http://", "ws://", 1).replace("https://", "wss://", 1)


async def subscribe(
    operation: str, token: str | None = None, /, **variables: Any
) -> AsyncIterator[dict[str, Any]]:
    """Yield each result of a subscription until the server completes it."""
    transport = WebsocketsTransport(
        url=_ws_url(),
        init_payload=_headers(token),
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    request = GraphQLRequest(document(operation), variable_values=variables or None)
    try:
        async with Client(transport=transport) as session:
            async for result in session.subscribe(request):
                yield result
    except TransportQueryError as error:
        raise ApiError.from_graphql((error.errors or [{}])[0]) from error
    except (OSError, TransportConnectionFailed, TransportClosed) as error:
        raise _unreachable() from error
