"""Fixtures for the observability tests: an app of the test's own whose Claude is the fake
Anthropic server, and students practising on it over GraphQL."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from api.accounts.models import Role
from api.accounts.security import issue_token
from api.app import create_app
from api.config import Settings
from tests.conftest import GraphQLClient
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment, make_section
from tests.factories.clients import make_profile
from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic  # noqa: F401

HAIKU = "claude-haiku-4-5"
FAST = {
    "retry_base_delay_seconds": 0.01,
    "retry_max_delay_seconds": 0.05,
    "fallback_model": None,
}
START = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id model } } }"
SEND = """
mutation($s: ID!, $content: String!) {
  sendMessage(sessionId: $s, content: $content) { assistantMessage { id status } }
}"""


@dataclass
class Student:
    """A student in a session with a client of their teacher's."""

    gql: GraphQLClient
    token: str
    session_id: str
    user_id: str

    async def send(self, content: str) -> httpx.Response:
        return await self.gql.post(SEND, {"s": self.session_id, "content": content}, self.token)

    async def turn(self, content: str) -> dict:
        """Send `content`; returns the reply once it is stored."""
        body = (await self.send(content)).json()
        assert "errors" not in body, body["errors"]
        await self.gql.settled(self.session_id)
        return body["data"]["sendMessage"]["assistantMessage"]


@dataclass
class Deployment:
    settings: Settings
    gql: GraphQLClient

    def token_for(self, user) -> str:
        return issue_token(actor(user), self.settings.signing_secret(), timedelta(hours=1))[0]

    async def student(self) -> Student:
        runtime = self.gql.runtime
        async with runtime.sessions() as db:
            teacher = await make_user(db, Role.TEACHER)
            student = await make_user(db, Role.STUDENT)
            profile = await make_profile(db, self.settings, teacher)
            section = await make_section(db, self.settings, teacher, student)
            await make_assignment(db, self.settings, teacher, section, profile)
        token = self.token_for(student)
        started = await self.gql.ok(START, {"c": str(profile.id)}, token)
        session = started["startSession"]["session"]
        assert session["model"] == HAIKU
        return Student(self.gql, token, session["id"], str(student.id))

    async def admin_token(self) -> str:
        async with self.gql.runtime.sessions() as db:
            return self.token_for(await make_user(db, Role.ADMIN))


@pytest.fixture
async def deploy(settings: Settings, fake_anthropic: FakeAnthropic):  # noqa: F811
    """Makes apps (with settings overrides) whose Claude is the fake; closes them after."""
    async with AsyncExitStack() as stack:

        async def make(**overrides) -> Deployment:
            update = {
                **FAST,
                "anthropic_api_key": SecretStr(fake_anthropic.api_key),
                "anthropic_base_url": fake_anthropic.url,
                **overrides,
            }
            app_settings = settings.model_copy(update=update)
            app = create_app(app_settings)
            stack.push_async_callback(app.state.runtime.close)
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://practicum.test"
            )
            await stack.enter_async_context(http)
            return Deployment(app_settings, GraphQLClient(http, app.state.runtime))

        yield make
