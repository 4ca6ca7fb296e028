"""A teacher's classes: sections with join codes, assignments published to a section, the
students' transcripts with their cost, and usage over a range of days."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.app import DemoApi
from tests.e2e.conftest import DESKTOP, PHONE, sign_in
from tests.e2e.conftest import screenshot as full_page_screenshot

DEMO_SECTION = "Counselling Skills 101"
DEMO_CLIENT = "Maya Okafor"
PAGE_SIZE = 25  # sessions on the transcripts page before "Load more"
PAGES = {
    "/sections": "sections",
    "/assignments": "assignments",
    "/sessions": "transcripts",
    "/insight": "usage",
}


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def _practise(api: DemoApi, client_name: str) -> str:
    """A whole practice session with `client_name`, ended and rated; its id."""
    clients = api.data("{ clientProfiles(first: 100) { nodes { id name } } }")["clientProfiles"]
    client_id = next(c["id"] for c in clients["nodes"] if c["name"] == client_name)
    session_id = api.data(
        "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }",
        c=client_id,
    )["startSession"]["session"]["id"]
    api.data(
        'mutation($s: ID!) { sendMessage(sessionId: $s, content: "Hello, what brings you here?")'
        " { assistantMessage { id } } }",
        s=session_id,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = api.data(
            "query($s: ID!) { session(id: $s) { messages { nodes { status } } } }", s=session_id
        )["session"]["messages"]["nodes"]
        if all(m["status"] != "STREAMING" for m in messages):
            break
        time.sleep(0.3)
    api.data("mutation($s: ID!) { endSession(sessionId: $s) { session { id } } }", s=session_id)
    api.data(
        "mutation($s: ID!) { rateSession(sessionId: $s, rating: 5) { session { id } } }",
        s=session_id,
    )
    return session_id


# Signing in is rate limited per account (5 a minute): each user signs in once per module.


@pytest.fixture(scope="module")
def student_api(app_url) -> DemoApi:
    return DemoApi.signed_in(app_url, "student")


@pytest.fixture(scope="module")
def riley_api(app_url) -> DemoApi:
    return DemoApi.signed_in(app_url, "student2")


@pytest.fixture(scope="module")
def practised(student_api) -> str:
    """A session of Sam Student's with the demo client, ended and rated."""
    return _practise(student_api, DEMO_CLIENT)


def _signed_in_teacher(browser: Browser, app_url: str, phone: bool) -> BrowserContext:
    context = browser.new_context(
        viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url)
    sign_in(context.new_page(), app_url, "teacher")
    return context


@pytest.fixture(scope="module")
def teacher_desktop(browser, app_url) -> Iterator[BrowserContext]:
    context = _signed_in_teacher(browser, app_url, phone=False)
    yield context
    context.close()


@pytest.fixture(scope="module")
def teacher_phone(browser, app_url) -> Iterator[BrowserContext]:
    context = _signed_in_teacher(browser, app_url, phone=True)
    yield context
    context.close()


@pytest.fixture
def teacher(teacher_desktop) -> Iterator[Page]:
    """A new tab of the signed-in teacher's desktop browser."""
    page = teacher_desktop.new_page()
    yield page
    page.close()


def screenshot(page: Page, name: str) -> None:
    """From the top: a full-page shot of a scrolled page draws the sticky bar mid-page."""
    page.evaluate("window.scrollTo(0, 0)")
    full_page_screenshot(page, name)


def _choose(page: Page, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_new_section_shows_a_join_code_that_lets_a_student_in(teacher, app_url, riley_api):
    page = teacher
    page.goto(f"{app_url}/sections")
    name = _unique("Interviewing Skills")
    page.get_by_label("Section name").fill(name)
    page.get_by_role("button", name="Create section").click()

    card = page.get_by_test_id("section-card").filter(has_text=name)
    code = card.get_by_test_id("join-code")
    expect(code).to_have_text(re.compile(r"^[A-Z2-9]{8}$"))
    expect(page.get_by_role("status").filter(has_text="created")).to_contain_text(code.inner_text())
    expect(card).to_contain_text("0 students")
    card.get_by_role("button", name=f"Copy the join code of {name}").click()
    expect(card.get_by_role("button", name="Join code copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == code.inner_text()

    joined = riley_api.data(
        "mutation($c: String!) { joinSection(joinCode: $c) { section { name } } }",
        c=code.inner_text(),
    )
    assert joined["joinSection"]["section"]["name"] == name

    page.reload()
    card = page.get_by_test_id("section-card").filter(has_text=name)
    expect(card).to_contain_text("1 student")
    # A new section stays open, showing who joined.
    expect(card.get_by_role("button", name="Hide students and assignments")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(card.get_by_text("student2@practicum.local")).to_be_visible()
    expect(card.get_by_text("No assignments yet.")).to_be_visible()
    screenshot(page, "sections-desktop")


def test_a_section_needs_a_name(teacher, app_url):
    page = teacher
    page.goto(f"{app_url}/sections")
    expect(page.get_by_test_id("section-card").first).to_be_visible()
    page.get_by_role("button", name="Create section").click()
    expect(page.locator("#section-name-error")).to_contain_text("Give the section a name")
    expect(page.get_by_label("Section name")).to_have_attribute("aria-invalid", "true")


def test_an_assignment_without_a_title_is_refused_by_the_field(teacher, app_url):
    page = teacher
    page.goto(f"{app_url}/assignments")
    page.get_by_role("button", name="New assignment").click()
    _choose(page, "Section", DEMO_SECTION)
    page.get_by_label(re.compile(DEMO_CLIENT)).click()
    page.get_by_role("button", name="Create draft").click()

    expect(page.locator("#assignment-title-error")).to_have_text("Title cannot be empty.")
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Please fix the fields marked below.")).to_be_visible()

    page.get_by_label(re.compile(DEMO_CLIENT)).click()
    page.get_by_label("Title").fill(_unique("No clients"))
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_text("Choose at least one client profile.")).to_be_visible()
    expect(page.locator("#assignment-title-error")).to_have_count(0)
    screenshot(page, "assignments-form-errors-desktop")


def test_a_published_assignment_gives_its_client_to_the_sections_students(
    teacher, app_url, student_api
):
    page = teacher
    page.goto(f"{app_url}/assignments")
    title = _unique("Reflecting feelings")
    page.get_by_role("button", name="New assignment").click()
    _choose(page, "Section", DEMO_SECTION)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Instructions").fill("Reflect the client's feelings before any advice.")
    page.get_by_label("Due date (UTC)").fill("2031-03-14")
    page.get_by_label("Due time (UTC)").fill("17:30")
    client = page.get_by_label(re.compile(DEMO_CLIENT))
    client.click()
    expect(client).to_be_checked()
    page.get_by_role("button", name="Create draft").click()

    card = page.get_by_test_id("assignment-card").filter(has_text=title)
    expect(card.get_by_text("Draft", exact=True)).to_be_visible()
    expect(card).to_contain_text("Due 14 Mar 2031, 17:30 UTC")
    expect(card).to_contain_text(DEMO_CLIENT)

    assignments = "{ assignments(first: 100) { nodes { title status clientProfiles { name } } } }"
    titles = [a["title"] for a in student_api.data(assignments)["assignments"]["nodes"]]
    assert title not in titles, "a draft is not for students yet"

    card.get_by_role("button", name=f"Publish {title}").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"The students of {DEMO_SECTION} will see it")
    dialog.get_by_role("button", name="Publish").click()
    expect(dialog).to_be_hidden()
    expect(card.get_by_text("Published", exact=True)).to_be_visible()
    expect(card.get_by_role("button", name=f"Publish {title}")).to_have_count(0)
    screenshot(page, "assignments-desktop")

    published = [
        a for a in student_api.data(assignments)["assignments"]["nodes"] if a["title"] == title
    ]
    assert len(published) == 1
    assert published[0]["status"] == "PUBLISHED"
    assert [c["name"] for c in published[0]["clientProfiles"]] == [DEMO_CLIENT]


def test_transcripts_list_the_students_sessions_with_cost_and_link_each(
    teacher, app_url, practised
):
    page = teacher
    page.goto(f"{app_url}/sessions")
    link = page.locator(f'a[href="/transcripts/{practised}"] >> visible=true')
    expect(link).to_be_visible()
    row = page.get_by_test_id("session-row").filter(has=link)
    expect(row).to_contain_text("Sam Student")
    expect(row).to_contain_text(DEMO_CLIENT)
    expect(row).to_contain_text("Ended")
    expect(row).to_contain_text("5/5")
    expect(row.get_by_test_id("session-tokens")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    expect(row.get_by_test_id("session-cost")).to_have_text(re.compile(r"^\$\d+(\.\d+)?$"))

    _choose(page, "Status", "In progress")
    expect(link).to_have_count(0)
    _choose(page, "Status", "Ended")
    _choose(page, "Client", DEMO_CLIENT)
    expect(link).to_be_visible()
    expect(page.get_by_test_id("session-row").filter(has_not_text=DEMO_CLIENT)).to_have_count(0)
    screenshot(page, "transcripts-desktop")

    link.click()
    expect(page).to_have_url(re.compile(rf"/transcripts/{practised}/?$"))


def test_transcripts_load_older_sessions_a_page_at_a_time(teacher, app_url, riley_api):
    clients = riley_api.data("{ clientProfiles(first: 1) { nodes { id } } }")["clientProfiles"]
    start = "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }"
    started = [
        riley_api.data(start, c=clients["nodes"][0]["id"])["startSession"]["session"]["id"]
        for _ in range(PAGE_SIZE + 1)
    ]
    page = teacher
    page.goto(f"{app_url}/sessions")
    newest, oldest = (
        page.locator(f'a[href="/transcripts/{s}"] >> visible=true')
        for s in (started[-1], started[0])
    )
    expect(newest).to_be_visible()
    expect(oldest).to_have_count(0)
    page.get_by_role("button", name="Load more").click()
    expect(oldest).to_be_visible()
    expect(newest).to_be_visible()


def test_usage_shows_the_figures_a_chart_and_the_range_problem(teacher, app_url, practised):
    page = teacher
    page.goto(f"{app_url}/insight")
    expect(page.get_by_test_id("usage-period")).to_contain_text("whole days, UTC")
    expect(page.get_by_test_id("usage-sessions")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    expect(page.get_by_test_id("usage-tokens")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    expect(page.get_by_test_id("usage-cost")).to_have_text(re.compile(r"^\$\d"))
    expect(page.get_by_role("img", name="Tokens per day").locator("svg").first).to_be_visible()
    by_student = page.get_by_role("table", name="Usage by student")
    expect(by_student.get_by_role("row", name=re.compile("Sam Student"))).to_be_visible()
    ratings = page.get_by_role("table", name="Students' ratings by client")
    expect(ratings.get_by_role("row", name=re.compile(DEMO_CLIENT))).to_be_visible()
    screenshot(page, "usage-desktop")

    page.get_by_label("First day (UTC)").fill("2030-02-01")
    page.get_by_label("Last day (UTC)").fill("2030-01-01")
    page.get_by_role("button", name="Show usage").click()
    expect(page.get_by_role("alert")).to_have_text("The range ends before it starts.")


@pytest.mark.parametrize("path", list(PAGES))
def test_each_class_page_fits_a_phone(teacher_phone, app_url, practised, path):
    page = teacher_phone.new_page()
    page.goto(f"{app_url}{path}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Loading")).to_have_count(0)
    if path == "/sessions":
        expect(page.get_by_test_id("session-card").first).to_be_visible()
    if path == "/sections":
        page.get_by_role("button", name="Show students and assignments").first.click()
    if path == "/assignments":
        page.get_by_role("button", name="New assignment").click()
        expect(page.get_by_label("Title")).to_be_visible()
    page.wait_for_timeout(500)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    screenshot(page, f"{PAGES[path]}-phone")
    page.close()
