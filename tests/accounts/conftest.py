"""Fixtures for the account tests: apps with settings of the test's own (sign-up off, a
sign-up limit, SMTP on), and a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI

from api.app import create_app
from api.config import Settings
from tests.conftest import GraphQLClient
from tests.transport.conftest import free_port


@pytest.fixture
async def open_app(settings: Settings):
    """Makes apps with `overrides` on the test settings; closes them afterwards."""
    made: list[FastAPI] = []

    def make(**overrides) -> FastAPI:
        app = create_app(settings.model_copy(update=overrides))
        made.append(app)
        return app

    yield make
    for app in made:
        await app.state.runtime.close()


@asynccontextmanager
async def graphql_to(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[GraphQLClient]:
    """GraphQL over HTTP to `app`, from a network address of the test's choosing."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://practicum.test") as http:
        yield GraphQLClient(http, app.state.runtime)


def an_address() -> str:
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


@dataclass
class Mailbox:
    """What the SMTP server received: one parsed message per accepted letter."""

    url: str
    messages: list[Message] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on a free loopback port, for this test alone."""
    mailbox = Mailbox(url="")
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailbox.url = f"smtp://127.0.0.1:{port}"
        yield mailbox
    finally:
        controller.stop()
