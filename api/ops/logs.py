"""Structured logs: one JSON object per line, each with the id of the request it belongs
to. The same id is sent back in the `X-Request-ID` header and stored on ErrorEvents, so
an admin can go from an error in the app to its log lines."""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
_request_id: ContextVar[str | None] = ContextVar("practicum_request_id", default=None)
_GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # a client's own id, if it is sane
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_LEFT_OUT = _STANDARD | {"request_id", "color_message"}  # uvicorn's copy with ANSI colours


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _LEFT_OUT:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _TextWithRequestId(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.request_id = current_request_id() or "-"
        return super().format(record)


def configure(log_format: str = "json", level: str = "INFO") -> None:
    """Route every logger (uvicorn's too) through one handler on the root logger."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            _TextWithRequestId("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)


class RequestIdMiddleware:
    """Gives every HTTP request and websocket connection an id (the client's own
    `X-Request-ID` when it sends a sane one) for the logs, and returns it in a header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if _GIVEN_ID.fullmatch(given) else new_request_id()
        token = _request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                headers = list(message.get("headers") or ())
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


class _WithoutQueryStrings(logging.Filter):
    """GET /graphql?query=…&variables=… may carry personal data: log the path only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], version, status)
        return True


def hide_query_strings() -> None:
    """Access logs name the path only (in every worker process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _WithoutQueryStrings) for f in access.filters):
        access.addFilter(_WithoutQueryStrings())
