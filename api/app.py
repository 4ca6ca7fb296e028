"""The FastAPI application: /graphql (HTTP and graphql-transport-ws), /healthz, /readyz,
/metrics (Prometheus)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIASGIMiddleware
from slowapi.util import get_remote_address
from sqlalchemy import text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.config import Settings, get_settings
from api.db.migrate import current_revision, head_revision
from api.events.broker import BrokerUnavailable
from api.graphql.http import GraphQLHTTP
from api.graphql.schema import build_schema
from api.graphql.websocket import graphql_websocket
from api.limits import memory
from api.limits.rate import seconds_until
from api.ops import metrics
from api.ops.headers import SecurityHeadersMiddleware
from api.ops.logs import RequestIdMiddleware, hide_query_strings
from api.runtime import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime.create(settings)
    hide_query_strings()
    schema = build_schema(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
        except BrokerUnavailable as exc:
            logging.getLogger("practicum").error("cannot start: %s", exc)
            raise
        runtime.drain_on_sigterm()
        yield
        await runtime.close()

    app = FastAPI(title="Practicum", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    limiter = _http_limits(app, settings)
    app.add_route("/graphql", GraphQLHTTP(schema, runtime).handle, methods=["GET", "POST"])

    app.include_router(graphql_websocket(schema, runtime, limiter))

    @app.get("/healthz", include_in_schema=False)
    @limiter.exempt
    async def healthz() -> JSONResponse:
        if runtime.replies.draining:  # a load balancer sends new work elsewhere
            return JSONResponse({"status": "draining"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    @limiter.exempt
    async def prometheus_metrics() -> Response:
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    @app.get("/readyz", include_in_schema=False)
    @limiter.exempt
    async def readyz() -> JSONResponse:
        try:
            async with runtime.read_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                revision = await connection.run_sync(current_revision)
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        if revision != head_revision():
            return JSONResponse({"status": "database not migrated"}, status_code=503)
        return JSONResponse({"status": "ready"})

    app.add_middleware(SecurityHeadersMiddleware)  # inside the proxy headers: sees https
    if settings.trusted_proxies.strip():
        # The per-address limits must see the browser's address, not the proxy's.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(RequestIdMiddleware)  # outermost: the id covers everything below
    return app


def _http_limits(app: FastAPI, settings: Settings) -> Limiter:
    """A per-address limit on every HTTP request (slowapi), against floods. Per process and
    in memory: the exact, shared limits on messages and logins are in the services."""
    limit = settings.http_rate_limit_per_ip.strip()
    limiter = Limiter(
        key_func=get_remote_address,
        default_limits=[limit] if limit else [],
        storage_uri=f"{memory.SCHEME}://",  # no timer thread per request
        strategy="moving-window",
        enabled=bool(limit),
    )
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _too_many_requests)
    app.add_middleware(SlowAPIASGIMiddleware)
    return limiter


def _too_many_requests(request: Request, exc: RateLimitExceeded) -> JSONResponse:
    limiter: Limiter = request.app.state.limiter
    limit, keys = request.state.view_rate_limit
    retry_after = seconds_until(limiter.limiter.get_window_stats(limit, *keys).reset_time)
    metrics.RATE_LIMITED.labels(rule="http_per_ip").inc()
    error = {
        "message": f"Too many requests from your address. Try again in {retry_after} s.",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": retry_after},
    }
    return JSONResponse(
        {"errors": [error]}, status_code=429, headers={"Retry-After": str(retry_after)}
    )
