"""The `practicum` command: serve, migrate, user create, demo, check-model, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from api.config import Settings, get_settings
from api.ops import logs

SCHEMA_FILE = Path("schema.graphql")


def _prepare_embedded_database(settings: Settings) -> None:
    """The embedded SQLite database keeps itself migrated; PostgreSQL is migrated on purpose."""
    if settings.sqlalchemy_url.startswith("sqlite"):
        from api.db.migrate import upgrade

        settings.prepare_data_dir()
        upgrade(settings.sqlalchemy_url)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    _prepare_embedded_database(settings)
    host, port = args.host or settings.host, args.port or settings.port
    # A log line like every other (one JSON object in JSON logs), not a bare print.
    logging.getLogger("practicum").info("Practicum API on http://%s:%s/graphql", host, port)
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        # The app closes larger messages with 1009 too; this stops uvicorn reading them first.
        ws_max_size=settings.max_request_bytes,
        workers=args.workers,
        # Replies drain on SIGTERM (PRACTICUM_DRAIN_SECONDS) before uvicorn stops.
        timeout_graceful_shutdown=5,
        # Idle connections stay open longer than clients keep them (aiohttp 15 s, nginx's
        # upstream pool 60 s): a server that closes first races a request sent on the same
        # connection, which then fails as "Server disconnected" (uvicorn's default is 5 s).
        timeout_keep_alive=75,
    )
    logs.hide_query_strings()
    if args.workers > 1:
        # Each worker is a process of its own (its own lease owner id); the embedded
        # database was migrated above, once, never by the workers.
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server = uvicorn.Server(config)
    server.run()
    # A start that failed (say, Redis unreachable: the reason is logged) is an error exit.
    return 0 if server.started else 1


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from api.db.migrate import upgrade

    settings.prepare_data_dir()
    upgrade(settings.sqlalchemy_url)
    print("Database is up to date.")
    return 0


async def _with_session(settings: Settings, work):
    from api.runtime import Runtime

    await asyncio.to_thread(_prepare_embedded_database, settings)
    runtime = Runtime.create(settings)
    try:
        async with runtime.sessions() as session:
            result = await work(session)
            await session.commit()
            return result
    finally:
        await runtime.close()


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    from api.accounts import service
    from api.accounts.models import Role
    from api.errors import PracticumError

    password = os.environ.get("PRACTICUM_NEW_USER_PASSWORD")
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass("Password: ")
        else:
            password = sys.stdin.readline().rstrip("\n")

    async def work(session):
        return await service.create_user(
            session, email=args.email, name=args.name, role=Role(args.role), password=password
        )

    try:
        user = asyncio.run(_with_session(settings, work))
    except PracticumError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    print(f"Created {user.role.value.lower()} {user.email}")
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from api.demo import DEMO_PASSWORD, seed

    logins, join_code = asyncio.run(_with_session(settings, lambda s: seed(s, settings)))
    print(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for login in logins:
        print(f"  {login.role.value.lower():8} {login.email}")
    print(f"Demo section join code: {join_code}")
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from api.graphql.schema import print_sdl

    sdl = print_sdl(settings)
    path = Path(args.output)
    if args.check:
        if not path.exists() or path.read_text() != sdl:
            print(f"{path} is out of date; run `practicum export-schema`.", file=sys.stderr)
            return 1
        print(f"{path} matches the code.")
        return 0
    path.write_text(sdl)
    print(f"Wrote {path}")
    return 0


def _check_model(args: argparse.Namespace, settings: Settings) -> int:
    from api.llm.base import ProviderError
    from api.llm.providers import Providers

    async def check() -> int:
        providers = Providers(settings)
        model = args.model or settings.chat_model
        try:
            provider = providers.for_model(model)
        except ProviderError as error:
            print(f"{model}: not available: {error.message}", file=sys.stderr)
            return 1
        result = await provider.test_connection(model)
        await providers.aclose()
        latency = f" in {result.latency_ms} ms" if result.latency_ms is not None else ""
        verdict = "answers" if result.ok else "does not answer"
        detail = f" ({result.detail})" if result.detail else ""
        print(f"{model} via {result.provider} {verdict}{latency}{detail}")
        return 0 if result.ok else 1

    return asyncio.run(check())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="practicum", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API (migrates the embedded database)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (default 1)"
    )
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        run=_migrate
    )

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser(
        "create",
        help="create an account; the password is read from PRACTICUM_NEW_USER_PASSWORD or stdin",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["STUDENT", "TEACHER", "ADMIN"])
    create.set_defaults(run=_user_create)

    commands.add_parser("demo", help="add demo accounts and content (idempotent)").set_defaults(
        run=_demo
    )

    check = commands.add_parser(
        "check-model", help="check that the configured model answers (a free, tiny call)"
    )
    check.add_argument("--model", help="default: the model new sessions use")
    check.set_defaults(run=_check_model)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", default=str(SCHEMA_FILE))
    export.add_argument("--check", action="store_true", help="fail if the file is out of date")
    export.set_defaults(run=_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        for problem in error.errors():
            print(
                f"configuration error: {problem['msg'].removeprefix('Value error, ')}",
                file=sys.stderr,
            )
        return 2
    logs.configure(settings.log_format, settings.log_level)
    return args.run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
