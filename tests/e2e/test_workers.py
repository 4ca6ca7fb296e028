"""The web UI on several Reflex workers (REFLEX_REDIS_URL, two workers): a chat reply
streams into the page and completes, turn after turn, whichever worker runs the turn and
whichever holds the page's subscription (live events cross workers through Redis)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import skip_or_fail
from tests.e2e import test_student
from tests.e2e.app import AppServer, running_app
from tests.e2e.conftest import _artifacts, screenshot
from tests.e2e.test_chat import _open_chat, _session_with
from tests.e2e.test_student import _messages, _reply_done, _send
from tests.limits.conftest import REDIS_URL

pytestmark = pytest.mark.own_app
teacher, talkative_client = test_student.teacher, test_student.talkative_client
WORKERS = 2
PREFIX = f"practicum-e2e-{time.time_ns()}:"


def require_redis() -> None:
    """Skip (fail under CI) when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        skip_or_fail(f"Redis at {REDIS_URL} does not answer ({exc})")
    finally:
        client.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    require_redis()
    workdir = tmp_path_factory.mktemp("e2e-workers")
    try:
        with running_app(
            workdir,
            REFLEX_REDIS_URL=REDIS_URL,  # Reflex's state, and Practicum's live events
            GRANIAN_WORKERS=str(WORKERS),
            PRACTICUM_REDIS_PREFIX=PREFIX,
        ) as server:
            yield server
    finally:
        if (workdir / "make-run.log").exists():
            shutil.copy(workdir / "make-run.log", _artifacts() / "make-run-workers.log")


@pytest.fixture(scope="module")
def app_url(app_server: AppServer) -> str:
    return app_server.url


def _brokers_connected(prefix: str) -> set[str]:
    """The processes whose event broker is connected to Redis (each names its connections)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        names = {c["name"] for c in client.client_list()}
    finally:
        client.close()
    return {name for name in names if name.startswith(f"{prefix}broker-")}


def test_a_reply_streams_into_the_chat_with_two_reflex_workers(
    open_page, app_url, app_server, talkative_client
):
    # One broker per worker (each worker's own: a forked worker must not pass for another)
    deadline = time.monotonic() + 60
    while len(_brokers_connected(PREFIX)) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(_brokers_connected(PREFIX)) == WORKERS

    session_id = _session_with(app_url, "student", talkative_client)
    page = _open_chat(open_page, app_url, session_id, phone=False)
    for turn in range(1, 5):
        _send(page, f"Turn {turn}: what has been on your mind this week?")
        streaming = page.get_by_test_id("streaming-text")
        expect(streaming).not_to_be_empty()
        if turn == 1:
            screenshot(page, "workers-chat-streaming-desktop")
        _reply_done(page)
        replies = _messages(page, "ASSISTANT")
        expect(replies).to_have_count(turn)
        expect(replies.last).to_have_attribute("data-status", "COMPLETE")
        assert len(replies.last.inner_text().split()) > 5
    screenshot(page, "workers-chat-done-desktop")
