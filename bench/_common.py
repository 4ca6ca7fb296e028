"""What the benchmarks share: a throwaway database on each backend, seeded classrooms."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.config import Settings
from api.conversations import service as conversations
from api.db.migrate import downgrade, head_revision, upgrade
from api.runtime import Runtime
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.transport.conftest import free_port, practicum_env

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
JWT_SECRET = "bench-secret-" + secrets.token_hex(16)


@asynccontextmanager
async def databases() -> AsyncIterator[list[tuple[str, str | None]]]:
    """(name, url) of a migrated SQLite file and PostgreSQL database (url None when
    PostgreSQL does not answer); both are removed afterwards."""
    import asyncpg

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, sqlite)
        found: list[tuple[str, str | None]] = [("sqlite", sqlite)]
        name = f"practicum_bench_{secrets.token_hex(4)}"
        try:
            admin = await asyncpg.connect(PG_ADMIN)
        except OSError:
            found.append(("postgres", None))
            yield found
            return
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        try:
            await asyncio.to_thread(upgrade, url)
            found.append(("postgres", url))
            yield found
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


# Throughput runs send far more than a class would: the limits stay on (their cost is
# measured) but high enough never to refuse.
UNREACHED_LIMITS = dict(
    rate_limit_messages_per_student="1000000/minute",
    rate_limit_messages_global="1000000/minute",
    http_rate_limit_per_ip="10000000/minute",
)


# The same, for a `practicum serve` of a bench: its environment.
UNREACHED_LIMITS_ENV = {
    f"PRACTICUM_{name.upper()}": value for name, value in UNREACHED_LIMITS.items()
}


def serve(
    data_dir: Path, workers: int, env: dict[str, str], code: str | None = None
) -> tuple[subprocess.Popen, str]:
    """`practicum serve` (with `workers` processes) on a free port of 127.0.0.1, with the
    benches' token secret and unreached limits, `env` on top; `code`: another checkout's
    `api` package instead of this one. Returns the process and its base URL once ready."""
    port = free_port()
    env = practicum_env(data_dir, PRACTICUM_JWT_SECRET=JWT_SECRET, **UNREACHED_LIMITS_ENV, **env)
    if code is not None:
        env["PYTHONPATH"] = str(Path(code).resolve())
    practicum = Path(sys.executable).parent / "practicum"
    command = [str(practicum), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("practicum serve did not become ready")


def bench_settings(url: str, **overrides) -> Settings:
    data_dir = Path(tempfile.mkdtemp(prefix="practicum-bench-"))
    return Settings(
        database_url=url, data_dir=data_dir, jwt_secret=JWT_SECRET, **(UNREACHED_LIMITS | overrides)
    )


@dataclass
class Student:
    token: str
    session_id: str


async def seed_students(settings: Settings, count: int, **profile_fields) -> list[Student]:
    """`count` students in one section, each with an active session with one client."""
    runtime = Runtime.create(settings)
    async with runtime.sessions() as db:
        teacher = await make_user(db, Role.TEACHER)
        profile = await make_profile(db, settings, teacher, **profile_fields)
        users = [await make_user(db) for _ in range(count)]
        section = await make_section(db, settings, teacher, *users)
        await make_assignment(db, settings, teacher, section, profile)
        students = []
        for user in users:
            conversation, _ = await conversations.start_session(
                db, actor(user), settings, profile.id
            )
            token, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=2))
            students.append(Student(token, str(conversation.id)))
        await db.commit()
    await runtime.close()
    return students


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class AsgiClient:
    """POSTs GraphQL straight into the ASGI app: the whole server path (routing, the HTTP
    transport, GraphQL) without an HTTP client's own cost in the measurement."""

    def __init__(self, app) -> None:
        self.app = app

    async def post(self, body: dict, token: str) -> dict:
        payload = json.dumps(body).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "server": ("bench", 80),
            "client": ("127.0.0.1", 5000),
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"authorization", f"Bearer {token}".encode()),
            ],
        }
        sent = False
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # the request has no more body
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return json.loads(b"".join(chunks))


def match_schema(url: str, code: str) -> None:
    """Bring a database migrated by this code down to the head of the checkout in `code`
    (an older checkout refuses a database migrated past its own head)."""
    their_head = subprocess.run(
        [sys.executable, "-c", "from api.db.migrate import head_revision; print(head_revision())"],
        cwd=Path(code).resolve(),  # `python -c` looks in the working directory first
        env={**os.environ, "PYTHONPATH": str(Path(code).resolve())},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if their_head != head_revision():
        downgrade(url, their_head)
