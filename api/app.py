"""The FastAPI application: /graphql (HTTP and graphql-transport-ws), /healthz, /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import WebSocketRoute
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.config import Settings, get_settings
from api.db.migrate import current_revision, head_revision
from api.graphql.context import Context
from api.graphql.http import GraphQLHTTP
from api.graphql.schema import build_schema
from api.runtime import Runtime


class GraphQLWebSocket(GraphQLRouter):
    """graphql-transport-ws on /graphql; the token comes in the `connection_init` payload."""

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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = Runtime.create(settings)
    schema = build_schema(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.close()

    app = FastAPI(title="Practicum", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_route("/graphql", GraphQLHTTP(schema, runtime).handle, methods=["GET", "POST"])

    websocket = GraphQLWebSocket(
        schema,
        path="/graphql",
        graphql_ide=None,
        context_getter=lambda: Context(runtime),
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
    websocket.routes = [r for r in websocket.routes if isinstance(r, WebSocketRoute)]
    app.include_router(websocket)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
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

    return app
