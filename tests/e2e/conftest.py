"""End-to-end tests: the app started the way the README starts it (`make run`), driven in
Debian's chromium through Playwright. Screenshots of every page, at desktop and phone
width, go to `test-artifacts/screenshots/`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import skip_or_fail
from tests.e2e.app import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOGINS,
    PASSWORD,
    ROOT,
    AppServer,
    running_app,
    sign_in,
)

__all__ = ["LOGINS", "PASSWORD", "screenshot", "sign_in"]

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session", autouse=True)
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        skip_or_fail(
            f"Debian's chromium is not at {CHROMIUM} (apt-get install chromium); "
            ".ci/run installs it"
        )


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    workdir = tmp_path_factory.mktemp("e2e")
    try:
        with running_app(workdir) as server:
            yield server
    finally:
        if (workdir / "make-run.log").exists():
            shutil.copy(workdir / "make-run.log", _artifacts() / "make-run.log")


@pytest.fixture(scope="session")
def app_url(app_server: AppServer) -> str:
    return app_server.url


def _artifacts() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS.parent


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API keeps an event loop running while it is open,
    # which the asyncio tests of the rest of the suite cannot share.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
