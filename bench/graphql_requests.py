"""Latency of GraphQL requests through the full app (ASGI, no network), and message throughput.

Prints one line: p50/p99 of a typical student read (me + clientProfiles) and sendMessage
requests per second with 50 students writing at once, on SQLite (and PostgreSQL when it
answers at 127.0.0.1:5432).

    .venv/bin/python bench/graphql_requests.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.app import create_app
from api.config import Settings
from api.conversations import service as conversations
from api.db.migrate import upgrade
from api.runtime import Runtime
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile

READ = "{ me { id name } clientProfiles { nodes { id name difficulty } } }"
SEND = "mutation($s: ID!, $c: String!) { sendMessage(sessionId: $s, content: $c) { userMessage { sequenceNumber } } }"  # noqa: E501
WRITERS = 50


async def _seed(settings: Settings) -> tuple[list[str], list[str]]:
    runtime = Runtime.create(settings)
    async with runtime.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        profile = await make_profile(db, settings, teacher)
        students = [await make_user(db) for _ in range(WRITERS)]
        section = await make_section(db, settings, teacher, *students)
        await make_assignment(db, settings, teacher, section, profile)
        tokens, sessions = [], []
        for student in students:
            conversation, _ = await conversations.start_session(
                db, actor(student), settings, profile.id
            )
            sessions.append(str(conversation.id))
            token, _ = issue_token(actor(student), settings.signing_secret(), timedelta(hours=1))
            tokens.append(token)
        await db.commit()
    await runtime.close()
    return tokens, sessions


async def _measure(settings: Settings, requests: int) -> str:
    tokens, sessions = await _seed(settings)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        async def post(query: str, variables: dict, token: str) -> None:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"authorization": f"Bearer {token}"},
            )
            assert "errors" not in response.json(), response.text

        for _ in range(20):  # warm up
            await post(READ, {}, tokens[0])
        latencies = []
        for _ in range(requests):
            started = time.perf_counter()
            await post(READ, {}, tokens[0])
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[int(len(latencies) * 0.99) - 1]

        per_writer = max(1, requests // WRITERS)

        async def writer(i: int) -> None:
            for n in range(per_writer):
                await post(SEND, {"s": sessions[i], "c": f"message {n}"}, tokens[i])

        started = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
        rate = WRITERS * per_writer / (time.perf_counter() - started)
    await app.state.runtime.close()
    return f"read p50 {p50:.1f} ms p99 {p99:.1f} ms, sendMessage {rate:.0f}/s"


async def _postgres_url() -> tuple[str, str] | None:
    import asyncpg

    try:
        connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    except OSError:
        return None
    name = f"practicum_bench_{secrets.token_hex(4)}"
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _drop(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


async def main(requests: int) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        settings = Settings(database_url=url, data_dir=Path(tmp), jwt_secret="bench-" * 8)
        results.append("sqlite: " + await _measure(settings, requests))
        pg = await _postgres_url()
        if pg:
            name, pg_url = pg
            try:
                await asyncio.to_thread(upgrade, pg_url)
                settings = Settings(database_url=pg_url, data_dir=Path(tmp), jwt_secret="b" * 48)
                results.append("postgres: " + await _measure(settings, requests))
            finally:
                await _drop(name)
        else:
            results.append("postgres: not reachable")
    print("graphql_requests: " + "; ".join(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    asyncio.run(main(parser.parse_args().requests))
