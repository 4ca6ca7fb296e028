"""A deploy while a student reads a reply: the API process that streams it gets SIGTERM, lets
it run for its drain deadline (PRACTICUM_DRAIN_SECONDS), stores it INTERRUPTED with the text
so far and closes its websockets with 1012. The web UI (the pages alone, talking to the API
through nginx, with a second API process standing by behind it on PostgreSQL and Redis)
reconnects by itself: the page, never reloaded, shows the interrupted reply with its text
and a Retry that works, and the next message is answered. A message sent while the process
drains (it refuses new turns) goes through once the standby takes over, without a second
press of Send. And when the process that restarts holds only the page's connection, the
reply streaming on the other one keeps streaming into the page to its end. At desktop and
phone width."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import (
    TEST_JWT_SECRET,
    _create_pg_database,
    _drop_pg_database,
)
from tests.e2e.app import TEST_SETTINGS, AppServer, DemoApi, running_app
from tests.e2e.conftest import _artifacts, screenshot
from tests.e2e.test_student import _messages, _reply_done, _send
from tests.e2e.test_workers import require_redis
from tests.events.test_cross_replica import nginx, rendered_nginx_conf
from tests.fakes.anthropic_server import FakeAnthropic, Reply, last_user_text
from tests.limits.conftest import REDIS_URL
from tests.transport.conftest import Server, free_port, serve

pytestmark = [pytest.mark.postgres, pytest.mark.own_app]
WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])

# The reply being read when the process stops: ~25 s of streaming, far past the deadline.
LONG_REPLY = " ".join(
    ["I have not been sleeping, and I keep going over the same things at night."] * 12
)
RETRIED = "Sorry, where was I? The nights are the hardest part, honestly."
NEXT = "Work has been a lot, but I think I can talk about it now."
DURING_DRAIN = "Hi. I am not sure why I am here, my sister made me come."
ASKED = "I wanted to talk about how the nights have been."
THEN = "Thank you. Can we talk about work?"
SENT_WHILE_DRAINING = "Hello. Where should we start?"
# After the stop, each message has its own answer, whichever is asked first.
ANSWERS = {ASKED: RETRIED, THEN: NEXT, SENT_WHILE_DRAINING: DURING_DRAIN}
# Streams for ~6 s on the standby, long enough to outlive the primary's restart.
ELSEWHERE = (
    "It is strange, I thought I would feel relieved after the move, but mostly I feel "
    "like a guest in my own life. My sister calls every day and I let it ring."
)
DRAIN_SECONDS = "2"
# nginx skips an upstream for this long after it failed (deploy/nginx.conf's fail_timeout)
UPSTREAM_FAIL_SECONDS = 5


@dataclass
class Front:
    """The API as the web UI sees it: nginx, a standby process, and a port for the primary
    one, which each test starts and stops."""

    ui: AppServer
    api_url: str  # nginx
    primary_port: int
    env: dict[str, str]
    data_dir: Path
    fake: FakeAnthropic
    standby_url: str
    primary_down_at: float = 0.0

    @contextmanager
    def primary(self) -> Iterator[Server]:
        """`practicum serve` on the port nginx prefers, once nginx would pick it again."""
        with serve(self.data_dir, env=self.env, port=self.primary_port) as server:
            time.sleep(max(0.0, self.primary_down_at + UPSTREAM_FAIL_SECONDS + 1 - time.time()))
            try:
                yield server
            finally:
                self.primary_down_at = time.time()


def _in_thread(coroutine):
    """Run a coroutine to its end outside Playwright's event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@contextmanager
def _postgres() -> Iterator[str]:
    name, url = _in_thread(_create_pg_database())
    try:
        yield url
    finally:
        _in_thread(_drop_pg_database(name))


@contextmanager
def _redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"practicum-e2e-reconnect-{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _primary_then_standby(conf: Path, standby: str) -> None:
    """nginx sends everything to the primary while it is up, and to the standby after."""
    line = f"server {standby.removeprefix('http://')} max_fails=1 fail_timeout=5s;"
    text = conf.read_text()
    assert line in text
    conf.write_text(text.replace(line, line.replace(";", " backup;")))


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    require_redis()
    workdir = tmp_path_factory.mktemp("e2e-reconnect")
    data_dir = workdir / "data"
    primary_port, nginx_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{nginx_port}"
    with ExitStack() as stack:
        database_url = stack.enter_context(_postgres())
        prefix = stack.enter_context(_redis_prefix())
        fake = stack.enter_context(
            FakeAnthropic(default=Reply(text=LONG_REPLY, chunk_chars=4, delay_between_chunks=0.1))
        )
        env = {
            **TEST_SETTINGS,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "PRACTICUM_REDIS_PREFIX": prefix,
            "PRACTICUM_JWT_SECRET": TEST_JWT_SECRET,
            "ANTHROPIC_API_KEY": fake.api_key,
            "ANTHROPIC_BASE_URL": fake.url,
            "PRACTICUM_DRAIN_SECONDS": DRAIN_SECONDS,
            "PRACTICUM_REPLY_LEASE_SECONDS": "3",
            "PRACTICUM_REPLY_HEARTBEAT_SECONDS": "1",
            "PRACTICUM_REPLY_SWEEP_SECONDS": "1",
        }
        try:
            # `make run` does the release (migrate, demo) and serves the pages alone.
            ui = stack.enter_context(
                running_app(
                    workdir,
                    ready_path="/ping",
                    PRACTICUM_UI_API_APP="",
                    PRACTICUM_API_URL=f"{api_url}/graphql",
                    **env,
                )
            )
            standby = stack.enter_context(serve(data_dir, env=env))
            conf = rendered_nginx_conf(
                workdir, nginx_port, [f"http://127.0.0.1:{primary_port}", standby.url]
            )
            _primary_then_standby(conf, standby.url)
            stack.enter_context(nginx(conf, nginx_port))
            yield Front(ui, api_url, primary_port, env, data_dir, fake, standby.url, time.time())
        finally:
            for log in workdir.glob("*.log"):
                shutil.copy(log, _artifacts() / f"reconnect-{log.name}")


@pytest.fixture
def app_url(front: Front) -> str:
    return front.ui.url


def _width(phone: bool) -> str:
    return "phone" if phone else "desktop"


def _stored_replies(front: Front, session_id: str) -> list[tuple[str, str]]:
    api = DemoApi.signed_in(front.api_url, "student")
    query = "query($id: ID!) { session(id: $id) { messages { nodes { role status content } } } }"
    nodes = api.data(query, id=session_id)["session"]["messages"]["nodes"]
    return [(m["status"], m["content"]) for m in nodes if m["role"] == "ASSISTANT"]


WATCH_FOR_RECONNECTING = """
window.practicumSawReconnecting = false;
new MutationObserver(() => {
  if (document.body.innerText.includes("Reconnecting")) window.practicumSawReconnecting = true;
}).observe(document.body, {childList: true, subtree: true, characterData: true});
"""


def _never_blank(page: Page, asked: str) -> None:
    """What the student typed stays on the page, and the page stays the same page."""
    expect(_messages(page, "USER").filter(has_text=asked)).to_have_count(1)
    assert page.evaluate("window.practicumNotReloaded") is True


@WIDTHS
def test_sigterm_mid_reply_the_page_reconnects_and_shows_the_interrupted_reply(
    open_page, front: Front, phone: bool
):
    width = _width(phone)
    with front.primary() as primary:
        session_id = DemoApi.signed_in(front.api_url, "student").start_session(new=True)
        page = open_page("student", phone=phone)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{front.ui.url}/practice/{session_id}")
        expect(page.get_by_label("Your message")).to_be_visible()
        page.evaluate("window.practicumNotReloaded = true")
        page.evaluate(WATCH_FOR_RECONNECTING)

        _send(page, ASKED)
        streaming = page.get_by_test_id("streaming-text")
        expect(streaming).to_contain_text("I have not been sleeping")
        screenshot(page, f"reconnect-streaming-{width}")

        other_page = _other_session(open_page, front, phone)
        answer = Reply(
            text_for=lambda body: ANSWERS[last_user_text(body)],
            chunk_chars=6,
            delay_between_chunks=0.02,
        )
        front.fake.enqueue(*[answer] * len(ANSWERS))
        stopped_at = time.monotonic()
        primary.process.send_signal(signal.SIGTERM)
        _send_while_draining(other_page, primary)
        # uvicorn ends by raising the signal again once it has stopped cleanly
        stopped = primary.process.wait(timeout=30)
        assert stopped in (0, -signal.SIGTERM), primary.output()[-3000:]

        interrupted = _messages(page, "ASSISTANT").last
        expect(interrupted).to_have_attribute("data-status", "INTERRUPTED", timeout=20_000)
        _never_blank(page, ASKED)
        expect(page.get_by_text("Reconnecting")).to_have_count(0, timeout=20_000)
        # The page's live connection went with the process, and came back.
        assert page.evaluate("window.practicumSawReconnecting") is True
        reconnected_after = time.monotonic() - stopped_at
        expect(page.get_by_text("reply was interrupted")).to_be_visible()
        retry = page.get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        screenshot(page, f"reconnect-interrupted-{width}")

    # What the page shows is what the API stored: the text streamed so far, no more.
    [(status, text_so_far)] = _stored_replies(front, session_id)
    assert status == "INTERRUPTED"
    assert len(text_so_far) > 20 and LONG_REPLY.startswith(text_so_far)
    expect(interrupted).to_contain_text(text_so_far[:40])
    assert reconnected_after < 20

    # The standby answers now: Retry, then the next message.
    retry.click()
    _reply_done(page)
    expect(_messages(page, "ASSISTANT")).to_have_count(1)
    expect(_messages(page, "ASSISTANT").last).to_have_attribute("data-status", "COMPLETE")
    expect(_messages(page, "ASSISTANT").last).to_contain_text(RETRIED)
    _send(page, THEN)
    expect(_messages(page, "ASSISTANT")).to_have_count(2)
    _reply_done(page)
    expect(_messages(page, "ASSISTANT").last).to_have_attribute("data-status", "COMPLETE")
    expect(_messages(page, "ASSISTANT").last).to_contain_text(NEXT)
    _never_blank(page, ASKED)
    screenshot(page, f"reconnect-answered-{width}")
    assert _stored_replies(front, session_id) == [("COMPLETE", RETRIED), ("COMPLETE", NEXT)]
    assert not errors

    # Sent while the process drained: stored once, answered by the standby.
    expect(_messages(other_page, "USER")).to_have_count(1)
    expect(_messages(other_page, "ASSISTANT").last).to_contain_text(DURING_DRAIN)
    expect(other_page.get_by_label("Your message")).to_have_value("")
    expect(other_page.get_by_role("alert")).to_have_count(0)
    screenshot(other_page, f"reconnect-sent-while-draining-{width}")


def _other_session(open_page, front: Front, phone: bool) -> Page:
    """The student's chat with another client, in a second tab, nothing streaming."""
    api = DemoApi.signed_in(front.api_url, "student")
    clients = api.data("{ clientProfiles { nodes { id } } }")["clientProfiles"]["nodes"]
    start = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
    session_id = api.data(start, c=clients[1]["id"])["startSession"]["session"]["id"]
    page = open_page("student", phone=phone)
    page.goto(f"{front.ui.url}/practice/{session_id}")
    expect(page.get_by_label("Your message")).to_be_visible()
    return page


def _send_while_draining(page: Page, primary: Server) -> None:
    """Send once the process refuses new turns (its /healthz says so), before it stops."""
    deadline = time.monotonic() + 5
    while httpx.get(f"{primary.url}/healthz", timeout=2).status_code != 503:
        assert time.monotonic() < deadline, "the process did not start draining"
        time.sleep(0.05)
    _send(page, SENT_WHILE_DRAINING)


@WIDTHS
def test_a_reply_streaming_on_another_process_streams_on_after_the_page_reconnects(
    open_page, front: Front, phone: bool
):
    width = _width(phone)
    with front.primary() as primary:
        student = DemoApi.signed_in(front.api_url, "student")
        session_id = student.start_session(new=True)
        page = open_page("student", phone=phone)
        page.goto(f"{front.ui.url}/practice/{session_id}")
        expect(page.get_by_label("Your message")).to_be_visible()
        page.evaluate("window.practicumNotReloaded = true")
        page.evaluate(WATCH_FOR_RECONNECTING)

        # Sent from another tab, straight to the standby: the reply streams there.
        front.fake.enqueue(Reply(text=ELSEWHERE, chunk_chars=4, delay_between_chunks=0.1))
        DemoApi(front.standby_url, student.token).data(SEND, s=session_id, c=ASKED, k=width)
        expect(page.get_by_test_id("streaming-text")).to_contain_text("It is strange")

        primary.process.send_signal(signal.SIGTERM)
        primary.process.wait(timeout=30)
        assert page.get_by_test_id("streaming-reply").count() == 1, "the reply ended early"

    _reply_done(page)
    reply = _messages(page, "ASSISTANT").last
    expect(reply).to_have_attribute("data-status", "COMPLETE")
    expect(reply).to_contain_text(ELSEWHERE)
    assert ELSEWHERE in reply.inner_text()  # whole, nothing twice
    assert reply.inner_text().count("It is strange") == 1
    _never_blank(page, ASKED)
    assert page.evaluate("window.practicumSawReconnecting") is True
    assert _stored_replies(front, session_id) == [("COMPLETE", ELSEWHERE)]
    screenshot(page, f"reconnect-streamed-elsewhere-{width}")


SEND = (
    "mutation($s: ID!, $c: String!, $k: String!) "
    "{ sendMessage(sessionId: $s, content: $c, idempotencyKey: $k) { userMessage { id } } }"
)
