"""Admins watch usage live on the dashboard and read the error log."""

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from api.db.models import ErrorEvent
from tests.e2e.app import DemoApi
from tests.e2e.conftest import screenshot

LIVE = re.compile(r"Live · updated \d\d:\d\d:\d\d UTC")
EMPTY_LOG = "No errors in this period"


def _student_turn(app_url: str) -> None:
    """A whole turn through the API, as another client would, until the reply is stored."""
    student = DemoApi.signed_in(app_url, "student")
    session_id = student.start_session(new=True)
    student.data(
        "mutation($s: ID!, $m: String!) { sendMessage(sessionId: $s, content: $m) { "
        "userMessage { id } } }",
        s=session_id,
        m="Hello, thank you for coming in. What would you like to talk about today?",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        session = student.data(
            "query($s: ID!) { session(id: $s) { messages { nodes { status } } } }", s=session_id
        )["session"]
        if session["messages"]["nodes"][-1]["status"] != "STREAMING":
            return
        time.sleep(0.3)
    pytest.fail("the reply did not complete within 30 s")


def _figure(page: Page, test_id: str) -> int:
    return int(page.get_by_test_id(test_id).inner_text().replace(",", ""))


def _open_dashboard(open_page, phone: bool = False) -> Page:
    page = open_page("admin", phone=phone)
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    expect(page.get_by_test_id("live-status")).to_have_text(LIVE)
    return page


def _fits_the_screen(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_dashboard_figures_change_live_after_a_students_turn(open_page, app_url):
    page = _open_dashboard(open_page)
    tokens_before = _figure(page, "metric-tokens-today")
    page.evaluate("window.stillTheSamePage = true")

    _student_turn(app_url)

    deadline = time.monotonic() + 10
    while _figure(page, "metric-tokens-today") <= tokens_before:
        assert time.monotonic() < deadline, "tokens today did not change on the open page"
        page.wait_for_timeout(200)
    assert _figure(page, "metric-messages") >= 2  # the student's message and the reply
    expect(page.get_by_test_id("metric-cost-today")).to_have_text(re.compile(r"^\$\d"))
    expect(page.get_by_test_id("live-status")).to_have_text(LIVE)
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"
    sessions = page.get_by_role("table", name="Active practice sessions")
    transcript = sessions.get_by_role("link", name=re.compile("^Transcript of Sam Student"))
    expect(transcript.first).to_be_visible()


@pytest.mark.parametrize("who", ["student", "teacher"])
@pytest.mark.parametrize("path", ["/admin", "/admin/errors"])
def test_only_admins_may_open_the_admin_pages(open_page, app_url, who, path):
    page = open_page(who)
    page.goto(f"{app_url}{path}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This page is for admins")
    expect(page.get_by_test_id("live-status")).to_have_count(0)


@pytest.fixture(scope="module")
def some_usage(app_url) -> None:
    """At least one turn today, so that the charts have something to show."""
    _student_turn(app_url)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_dashboard_fits_the_screen_with_a_table_for_each_chart(open_page, some_usage, phone):
    page = _open_dashboard(open_page, phone=phone)
    expect(page.get_by_role("heading", name="Tokens per day, last 30 days")).to_be_visible()
    page.get_by_text("Show the last 30 days as a table").click()
    days = page.get_by_role("table", name="Usage per day, last 30 days")
    expect(days.get_by_role("row")).to_have_count(31)  # the header and 30 days
    cards = page.locator("[data-testid^=metric-]")
    columns = {round(cards.nth(i).bounding_box()["x"]) for i in range(cards.count())}
    assert len(columns) == (2 if phone else 4)
    assert _fits_the_screen(page)
    _screenshot_with_charts(page, f"admin-dashboard-{'phone' if phone else 'desktop'}")


def _todays_tokens(page: Page) -> int:
    days = page.get_by_role("table", name="Usage per day, last 30 days")
    tokens = days.get_by_role("row").nth(1).locator("td").nth(2)  # (a phone hides Sessions)
    return int(tokens.inner_text().replace(",", ""))


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_charts_follow_the_live_figures_and_say_when_they_were_read(
    open_page, app_url, some_usage, phone
):
    page = _open_dashboard(open_page, phone=phone)
    as_of = page.get_by_test_id("history-as-of")
    expect(as_of).to_have_text(re.compile(r"as of \d\d:\d\d:\d\d UTC$"))
    page.get_by_text("Show the last 30 days as a table").click()
    before, read_at = _todays_tokens(page), as_of.inner_text()

    _student_turn(app_url)

    deadline = time.monotonic() + 30
    while _todays_tokens(page) <= before:
        assert time.monotonic() < deadline, "the 30-day figures did not follow the live cards"
        page.wait_for_timeout(500)
    assert as_of.inner_text() != read_at
    assert _todays_tokens(page) == _figure(page, "metric-tokens-today")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_no_cost_is_one_line_and_sessions_fit_a_phone(open_page, some_usage, phone):
    page = _open_dashboard(open_page, phone=phone)
    no_cost = page.get_by_test_id("no-cost")  # the offline simulator costs nothing
    expect(no_cost).to_be_visible()
    assert no_cost.bounding_box()["height"] < 60
    expect(page.get_by_role("heading", name=re.compile("^Cost per"))).to_have_count(0)
    cards = page.get_by_test_id("active-session-card")
    table = page.get_by_role("table", name="Active practice sessions")
    if phone:  # a card per session, every figure in view
        expect(cards.first).to_be_visible()
        expect(table).to_be_hidden()
        expect(cards.first.get_by_role("link", name=re.compile("^Transcript of"))).to_be_visible()
        box = cards.first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    else:
        expect(table).to_be_visible()
        expect(cards.first).to_be_hidden()
    assert _fits_the_screen(page)


# Counts every change a chart's bars and lines go through: an animation changes them on
# every frame, a still chart once per new figure.
COUNT_CHART_FRAMES = """
window.chartFrames = 0;
new MutationObserver((changes) => {
  for (const change of changes) {
    const target = change.target;
    if (target.closest && target.closest(".recharts-bar-rectangles, .recharts-line")) {
      window.chartFrames += 1;
    }
  }
}).observe(document, {subtree: true, attributes: true, childList: true});
"""


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_charts_are_drawn_at_once_not_grown(open_page, some_usage, phone):
    page = _open_dashboard(open_page, phone=phone)
    page.add_init_script(COUNT_CHART_FRAMES)
    page.reload()
    expect(page.get_by_test_id("live-status")).to_have_text(LIVE)
    expect(page.locator(".recharts-bar-rectangle").first).to_be_attached()
    page.wait_for_timeout(2500)
    bars = page.locator(".recharts-bar-rectangle").count()
    lines = page.locator(".recharts-line").count()
    # A grown chart changes ~25 times a bar; a still one a few times in all.
    assert page.evaluate("window.chartFrames") <= 3 * (bars + lines)


def _screenshot_with_charts(page: Page, name: str) -> None:
    """A full-page screenshot resizes the window, and the charts then draw themselves again
    from zero; so the window is made as tall as the page first, and the charts given time."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
    page.wait_for_timeout(2000)
    screenshot(page, name)


# The error log. Error events come only from a failing model provider, which the end-to-end
# server (the offline simulator) never is; so they are written to its database directly.


@pytest.fixture
def error_events(app_url, app_server) -> dict:
    """27 provider errors of one new practice session (the newest `provider.overloaded`),
    and a timeout three days ago."""
    session_id = DemoApi.signed_in(app_url, "student2").start_session(new=True)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    events = [
        _event("provider.server", f"Server error {i} ({tag})", session_id, now - timedelta(hours=i))
        for i in range(1, 27)
    ]
    overloaded = _event("provider.overloaded", f"Overloaded ({tag})", session_id, now)
    old = _event("provider.timeout", f"No first token ({tag})", None, now - timedelta(days=3))
    _write(app_server.data_dir / "practicum.db", [*events, overloaded, old])
    return {
        "session_id": session_id,
        "overloaded": overloaded.message,
        "old": old.message,
        "old_day": (now - timedelta(days=3)).date().isoformat(),
    }


def _event(category: str, message: str, session_id: str | None, at: datetime) -> ErrorEvent:
    return ErrorEvent(
        category=category,
        message=message,
        upstream_status=529 if category == "provider.overloaded" else None,
        request_id=uuid.uuid4().hex[:16],
        model="claude-haiku-4-5",
        session_id=uuid.UUID(session_id) if session_id else None,
        details={},
        created_at=at,
    )


def _write(database: Path, events: list[ErrorEvent]) -> None:
    engine = create_engine(f"sqlite:///{database}")
    with Session(engine, expire_on_commit=False) as db:
        db.add_all(events)
        db.commit()
    engine.dispose()


def _apply(page: Page) -> None:
    page.get_by_role("button", name="Apply filters").click()


def _rows(page: Page):
    return page.get_by_role("table", name="Error events, newest first").get_by_role("row")


def test_the_error_log_filters_by_session_category_and_day_and_pages(
    open_page, app_url, error_events
):
    page = open_page("admin")
    page.goto(f"{app_url}/admin/errors")
    expect(page.get_by_role("heading", name="Error log", level=1)).to_be_visible()

    page.get_by_label("Practice session id").fill(error_events["session_id"])
    _apply(page)
    expect(_rows(page)).to_have_count(1 + 25)
    expect(_rows(page).nth(1)).to_contain_text(error_events["overloaded"])  # newest first
    expect(_rows(page).nth(1)).to_contain_text("529")
    transcript = _rows(page).nth(1).get_by_role("link", name=re.compile("^Transcript"))
    expect(transcript).to_have_attribute("href", re.compile(error_events["session_id"]))
    page.get_by_role("button", name="Load more").click()
    expect(_rows(page)).to_have_count(1 + 27)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)

    page.get_by_label("Category").click()
    page.get_by_role("option", name="Provider: overloaded").click()
    _apply(page)
    expect(_rows(page)).to_have_count(2)
    expect(_rows(page).nth(1)).to_contain_text("provider.overloaded")

    page.get_by_role("button", name="Clear filters").click()
    expect(page.get_by_label("Practice session id")).to_have_value("")
    page.get_by_label("From (UTC)").fill(error_events["old_day"])
    page.get_by_label("To (UTC, inclusive)").fill(error_events["old_day"])
    _apply(page)
    expect(_rows(page).filter(has_text=error_events["old"])).to_be_visible()
    expect(page.get_by_text(error_events["overloaded"])).to_have_count(0)

    page.get_by_label("Practice session id").fill(str(uuid.uuid4()))
    _apply(page)
    expect(page.get_by_text(EMPTY_LOG)).to_be_visible()

    page.get_by_label("Practice session id").fill("not-an-id")
    _apply(page)
    expect(page.get_by_text("That is not a practice session id.", exact=False)).to_be_visible()


def test_the_error_log_says_when_a_period_has_no_errors(open_page, app_url):
    page = open_page("admin")
    page.goto(f"{app_url}/admin/errors")
    page.get_by_label("From (UTC)").fill("2001-01-01")
    page.get_by_label("To (UTC, inclusive)").fill("2001-01-31")
    _apply(page)
    expect(page.get_by_text(EMPTY_LOG)).to_be_visible()
    page.get_by_label("To (UTC, inclusive)").fill("2000-12-31")
    _apply(page)
    expect(page.get_by_text("Choose a day on or after the “From” day.")).to_be_visible()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_error_log_fits_the_screen(open_page, app_url, error_events, phone):
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/admin/errors")
    first = page.get_by_test_id("error-card") if phone else _rows(page)
    expect(first.first).to_be_visible()
    assert _fits_the_screen(page)
    screenshot(page, f"admin-errors-{'phone' if phone else 'desktop'}")


def test_on_a_phone_each_error_is_a_card_with_its_transcript_in_view(
    open_page, app_url, error_events
):
    page = open_page("admin", phone=True)
    page.goto(f"{app_url}/admin/errors")
    page.get_by_label("Practice session id").fill(error_events["session_id"])
    _apply(page)
    cards = page.get_by_test_id("error-card")
    expect(cards).to_have_count(25)
    expect(page.get_by_role("table", name="Error events, newest first")).to_be_hidden()
    newest = cards.first
    for text in (error_events["overloaded"], "529", "claude-haiku-4-5"):
        expect(newest).to_contain_text(text)
    width = page.viewport_size["width"]
    for i in range(cards.count()):
        link = cards.nth(i).get_by_role("link", name=re.compile("^Transcript of session"))
        link.scroll_into_view_if_needed()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
        link.click(trial=True)
    assert _fits_the_screen(page)
