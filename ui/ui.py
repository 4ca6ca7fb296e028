"""The Reflex app. It serves the pages, and mounts the Practicum API (`/graphql`, `/healthz`,
…) in the same process so that one port serves both; the pages still reach the API only
over GraphQL, like any other client."""

import importlib
import os
from contextlib import asynccontextmanager

import reflex as rx

import ui.pages  # noqa: F401  (registers every page)
from ui.theme import STYLE

# "module:factory" of the ASGI app to serve beside the pages; empty to serve the pages alone
# (the API then runs elsewhere, at PRACTICUM_API_URL).
API_APP = os.environ.get("PRACTICUM_UI_API_APP", "api.app:create_app")


def _api_app():
    if not API_APP:
        return None
    module, factory = API_APP.split(":")
    return getattr(importlib.import_module(module), factory)()


api = _api_app()

app = rx.App(
    style=STYLE,
    api_transformer=api,
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
)

if api is not None:
    # Reflex mounts the API inside its own app, so the API's lifespan (database, broker,
    # background workers) must run as one of Reflex's lifespan tasks.
    @app.register_lifespan_task
    @asynccontextmanager
    async def api_lifespan():
        async with api.router.lifespan_context(api):
            yield
