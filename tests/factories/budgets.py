"""Budgets and cost alerts as admins and teachers use them over GraphQL, and students' turns
against the fake Anthropic server (`practicum`: an app whose Claude is the fake)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from api.accounts.models import Role, User
from api.accounts.security import issue_token
from api.app import create_app
from api.classes import service as classes
from api.config import Settings
from api.conversations.models import Message
from api.runtime import Runtime
from api.usage.models import UsageRecord
from tests.conftest import GraphQLClient
from tests.factories.accounts import actor, make_user
from tests.factories.world import World, make_world
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.threaded import ThreadedServer

BUDGET = """id scope sectionId studentId period limitUsd alertPercents spentUsd periodStart
resetsAt"""
ALERT = "id budgetId scope sectionId studentId period periodStart percent spentUsd limitUsd message"
SET_BUDGET = f"""
mutation($input: SetBudgetInput!) {{ setBudget(input: $input) {{ budget {{ {BUDGET} }} }} }}
"""
DELETE_BUDGET = "mutation($id: ID!) { deleteBudget(id: $id) { deletedId } }"
BUDGETS = f"{{ budgets {{ {BUDGET} }} }}"
ALERTS = f"""
query($first: Int) {{ costAlerts(first: $first) {{ nodes {{ {ALERT} createdAt }} }} }}
"""
START = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
SEND = """
mutation($s: ID!, $text: String!) {
  sendMessage(sessionId: $s, content: $text) { assistantMessage { id } }
}
"""
SESSION = "query($id: ID!) { session(id: $id) { messageCount } }"

# Short replies keep a turn's worst case (the longest reply) near what it really costs.
MAX_REPLY_TOKENS = 40


@dataclass
class Practicum:
    """The app as its users reach it over GraphQL; its Claude is the fake Anthropic server."""

    gql: GraphQLClient
    runtime: Runtime
    fake: FakeAnthropic

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def token(self, user: User) -> str:
        token, _ = issue_token(actor(user), self.settings.signing_secret(), timedelta(hours=1))
        return token

    async def user(self, role: Role) -> User:
        async with self.runtime.sessions() as db:
            return await make_user(db, role)

    async def world(self) -> World:
        """A teacher and their section with a student and a published client."""
        async with self.runtime.sessions() as db:
            return await make_world(db, self.settings)

    async def classmates(self, world: World, count: int) -> list[User]:
        """`count` more students in the world's section."""
        students = []
        async with self.runtime.sessions() as db:
            for _ in range(count):
                student = await make_user(db, Role.STUDENT)
                await classes.join_section(db, actor(student), world.section.join_code)
                await db.commit()
                students.append(student)
        return students

    # Budgets, as the person who asks sees them

    async def set_budget(self, who: User, **fields) -> dict:
        data = await self.gql.ok(SET_BUDGET, {"input": fields}, self.token(who))
        return data["setBudget"]["budget"]

    async def set_budget_error(self, who: User, **fields) -> dict:
        return await self.gql.error(SET_BUDGET, {"input": fields}, self.token(who))

    async def delete_budget(self, who: User, budget_id: str) -> None:
        await self.gql.ok(DELETE_BUDGET, {"id": budget_id}, self.token(who))

    async def budgets(self, who: User) -> list[dict]:
        return (await self.gql.ok(BUDGETS, token=self.token(who)))["budgets"]

    async def budget(self, who: User, budget_id: str) -> dict:
        return next(b for b in await self.budgets(who) if b["id"] == budget_id)

    async def alerts(self, who: User, first: int = 100) -> list[dict]:
        data = await self.gql.ok(ALERTS, {"first": first}, self.token(who))
        return data["costAlerts"]["nodes"]

    # Students' turns

    async def start(self, student: User, world: World) -> str:
        data = await self.gql.ok(START, {"c": str(world.profile.id)}, self.token(student))
        return data["startSession"]["session"]["id"]

    async def send(
        self, student: User, session_id: str, text: str = "I keep waking at 4am."
    ) -> None:
        """The student sends `text`; returns once the reply is stored."""
        await self.gql.ok(SEND, {"s": session_id, "text": text}, self.token(student))
        await self.gql.settled(session_id)

    async def send_error(self, student: User, session_id: str, text: str = "Hello?") -> dict:
        return await self.gql.error(SEND, {"s": session_id, "text": text}, self.token(student))

    async def message_count(self, student: User, session_id: str) -> int:
        data = await self.gql.ok(SESSION, {"id": session_id}, self.token(student))
        return data["session"]["messageCount"]

    # What was billed, read from the UsageRecords

    async def billed(self, *session_ids: str, since: datetime | None = None) -> Decimal:
        """The cost of the sessions' model calls (of every call when none is named)."""
        stmt = select(func.coalesce(func.sum(UsageRecord.cost), 0))
        if session_ids:
            stmt = stmt.where(UsageRecord.session_id.in_([uuid.UUID(s) for s in session_ids]))
        if since is not None:
            stmt = stmt.where(UsageRecord.created_at >= since)
        async with self.runtime.sessions() as db:
            return Decimal(await db.scalar(stmt))

    async def stored(self, session_id: str) -> tuple[int, int]:
        """(messages, usage records) stored for a session."""
        sid = uuid.UUID(session_id)
        async with self.runtime.sessions() as db:
            messages = await db.scalar(select(func.count()).where(Message.session_id == sid))
            records = await db.scalar(select(func.count()).where(UsageRecord.session_id == sid))
        return messages, records

    @asynccontextmanager
    async def global_cap(self, admin: User, **fields) -> AsyncIterator[dict]:
        """A cap for everyone, removed afterwards: every test shares the database."""
        budget = await self.set_budget(admin, scope="GLOBAL", **fields)
        try:
            yield budget
        finally:
            await self.delete_budget(admin, budget["id"])


@pytest.fixture(name="make_practicum")
async def make_practicum_fixture(settings: Settings, fake_anthropic: FakeAnthropic):
    """Makes Practicums (with settings overrides) on the test database; closes them after."""
    made: list[Runtime] = []
    clients: list[httpx.AsyncClient] = []

    def make(**overrides) -> Practicum:
        update = {
            "anthropic_api_key": SecretStr(fake_anthropic.api_key),
            "anthropic_base_url": fake_anthropic.url,
            "max_reply_tokens": MAX_REPLY_TOKENS,
            "fallback_model": None,
            **overrides,
        }
        app = create_app(settings.model_copy(update=update))
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://practicum.test"
        )
        made.append(app.state.runtime)
        clients.append(http)
        return Practicum(GraphQLClient(http, app.state.runtime), app.state.runtime, fake_anthropic)

    yield make
    for http in clients:
        await http.aclose()
    for runtime in made:
        await runtime.close()


@pytest.fixture(name="practicum")
def practicum_fixture(make_practicum) -> Practicum:
    return make_practicum()


# Periods, as users read them


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), tzinfo=UTC)


def first_of_next_month(now: datetime) -> datetime:
    day = now.astimezone(UTC).date()
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def today_utc() -> datetime:
    return datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)


async def until(condition, seconds: float = 10.0):
    """Poll `condition()` (sync or async) until it returns something truthy."""
    async with asyncio.timeout(seconds):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(0.02)


class WebhookReceiver:
    """A team's alert endpoint: a real HTTP server on a free port that keeps what it is
    sent. Use as `with WebhookReceiver() as hook:`; POST to `hook.url`."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[dict] = []  # the JSON bodies, in arrival order
        self.content_types: list[str] = []
        self._served = ThreadedServer(self._app, "alert-webhook")

    def __enter__(self) -> WebhookReceiver:
        self.url = f"http://127.0.0.1:{self._served.start()}/hooks/practicum"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._served.stop()

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        self.content_types.append(headers.get(b"content-type", b"").decode())
        self.received.append(json.loads(body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
