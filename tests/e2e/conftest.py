"""End-to-end tests: the app started the way the README starts it (`make run`), driven in
Debian's chromium through Playwright. Screenshots of every page, at desktop and phone
width, go to `test-artifacts/screenshots/`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PRACTICUM_E2E_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "practicum-demo"
LOGINS = {
    "student": "student@practicum.local",
    "student2": "student2@practicum.local",
    "teacher": "teacher@practicum.local",
    "admin": "admin@practicum.local",
}
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
STARTUP_SECONDS = 600

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium); .ci/run installs it",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=15_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class AppServer:
    url: str
    data_dir: Path  # the embedded database and secrets of this server


@pytest.fixture(scope="session")
def app_url(app_server: AppServer) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """`make run` on a free port with a fresh embedded database, at the URL it prints."""
    port = _free_port()
    workdir = tmp_path_factory.mktemp("e2e")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "PRACTICUM_OPENAI_BASE_URL"}
    }
    env.update(
        PRACTICUM_DATA_DIR=str(workdir / "data"),
        # Replies long enough to be seen streaming and to be stopped.
        PRACTICUM_SIMULATOR_DELAY_SECONDS="0.06",
        PRACTICUM_RATE_LIMIT_MESSAGES_PER_USER="100/minute",
        # Every test signs in through the page; many share the demo accounts.
        PRACTICUM_RATE_LIMIT_LOGINS_PER_EMAIL="200/minute",
        PRACTICUM_RATE_LIMIT_LOGINS_PER_IP="600/minute",
        PRACTICUM_LOG_FORMAT="text",
    )
    log_path = workdir / "make-run.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield AppServer(_wait_for_url(server, log_path), workdir / "data")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.copy(log_path, _artifacts() / "make-run.log")


def _wait_for_url(server: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"make run exited with {server.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        match = re.search(r"App running at: (http://\S+?)/?\s", log_path.read_text())
        if match:
            url = match.group(1)
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        time.sleep(0.5)
    pytest.fail(
        f"make run did not serve within {STARTUP_SECONDS} s:\n{log_path.read_text()[-4000:]}"
    )


def _tail(log_path: Path) -> str:
    return log_path.read_text()[-4000:]


def _artifacts() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS.parent


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API keeps an event loop running while it is open,
    # which the asyncio tests of the rest of the suite cannot share.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def sign_in(page: Page, app_url: str, who: str) -> None:
    """Sign in through the sign-in page, as a user would, and wait for the start page."""
    page.goto(f"{app_url}/login")
    page.get_by_label("Email").fill(LOGINS[who])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.fixture
def open_page(browser: Browser, app_url: str) -> Iterator[Callable[..., Page]]:
    """`open_page("student")` gives a new browser context signed in as that demo user
    (`None`: signed out); `phone=True` for a phone-sized screen."""
    contexts = []

    def _open(who: str | None = None, phone: bool = False) -> Page:
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=1,
        )
        contexts.append(context)
        page = context.new_page()
        if who:
            sign_in(page, app_url, who)
        return page

    yield _open
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/<name>.png (after fonts settle)."""
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky bar is drawn mid-page
    page.wait_for_timeout(300)
    path = _artifacts() / "screenshots" / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
