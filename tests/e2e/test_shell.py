"""The page shell: every role reaches every one of its pages (the navigation bar on a
desktop, the menu on a phone, by mouse and by keyboard), and every dead end (no such page,
no such session or client, a page for another role) is a page in the shell that says what
happened and where to go."""

import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import screenshot

NAV = {
    "student": ["Practise", "My sessions", "Progress"],
    "teacher": ["Clients", "Sections", "Assignments", "Rubrics", "Transcripts", "Usage"],
    "admin": ["Dashboard", "Errors", "Budgets & limits", "Accounts", "Transcripts", "Clients"],
}
# The phone menu: the admins' account pages one by one (the bar has one "Accounts" link and
# the pages tabs); every menu ends with the user's own account page.
MENU = {
    **NAV,
    "admin": [
        "Dashboard",
        "Errors",
        "Budgets & limits",
        "Users",
        "API keys",
        "Audit log",
        "Transcripts",
        "Clients",
    ],
}
YOUR_ACCOUNT = "Your account"
HEADINGS = {"Errors": "Error log", "Accounts": "Users"}  # where a page's h1 is not its label
START = {"student": "Practise", "teacher": "Clients", "admin": "Dashboard"}
ROLES = list(NAV)
WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def dead_end(page: Page, title: str, way_on: str, lands_on: str, shot: str = "") -> None:
    """The page says `title` in its h1; its link `way_on` leads to the page `lands_on`."""
    expect(heading(page)).to_have_text(title)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    if shot:
        screenshot(page, shot)
    page.get_by_role("link", name=way_on).click()
    expect(heading(page)).to_have_text(lands_on)


def no_crash(page: Page) -> None:
    expect(page.get_by_text("An error occurred while rendering this page")).to_have_count(0)


def open_menu(page: Page, by: str):
    trigger = page.get_by_role("button", name="Open the menu")
    if by == "mouse":
        trigger.click()
    else:
        trigger.focus()
        page.keyboard.press("Enter")
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    no_crash(page)
    return menu


@pytest.mark.parametrize("by", ["mouse", "keyboard"])
@pytest.mark.parametrize("who", ROLES)
def test_on_a_phone_the_menu_reaches_every_page(open_page, who, by):
    page = open_page(who, phone=True)
    expect(heading(page)).to_have_text(START[who])
    for index, label in enumerate(MENU[who]):
        menu = open_menu(page, by)
        expect(menu.get_by_role("menuitem")).to_have_text([*MENU[who], YOUR_ACCOUNT])
        shown = START[who] if index == 0 else MENU[who][index - 1]  # the page open now
        expect(menu.get_by_role("menuitem", name=shown)).to_have_attribute("aria-current", "page")
        if index == 0:
            screenshot(page, f"menu-{who}-phone")
        if by == "mouse":
            menu.get_by_role("menuitem", name=label).click()
        else:
            items = menu.get_by_role("menuitem")
            expect(items.first).to_be_focused()  # a menu opened by keyboard focuses its first
            for step in range(1, index + 1):
                page.keyboard.press("ArrowDown")
                expect(items.nth(step)).to_be_focused()
            page.keyboard.press("Enter")
        expect(menu).to_be_hidden()
        expect(heading(page)).to_have_text(HEADINGS.get(label, label))
        no_crash(page)
    page.reload()
    expect(heading(page)).to_have_text(HEADINGS.get(MENU[who][-1], MENU[who][-1]))
    open_menu(page, by).get_by_role("menuitem", name=MENU[who][0]).click()
    expect(heading(page)).to_have_text(HEADINGS.get(MENU[who][0], MENU[who][0]))


@pytest.mark.parametrize("who", ROLES)
def test_on_a_desktop_the_navigation_bar_reaches_every_page(open_page, who):
    page = open_page(who)
    nav = page.get_by_role("navigation", name="Main")
    expect(page.get_by_role("button", name="Open the menu")).to_be_hidden()
    for label in NAV[who]:
        link = nav.get_by_role("link", name=label, exact=True)
        link.click()
        expect(heading(page)).to_have_text(HEADINGS.get(label, label))
        expect(link).to_have_attribute("aria-current", "page")
        expect(nav.locator("[aria-current=page]")).to_have_count(1)
    page.reload()
    expect(heading(page)).to_have_text(HEADINGS.get(NAV[who][-1], NAV[who][-1]))


@WIDTHS
def test_an_unknown_address_is_a_page_in_the_shell_with_the_way_home(open_page, app_url, phone):
    page = open_page("student", phone=phone)
    page.goto(f"{app_url}/no/such/page")
    expect(page.get_by_text("There is no page at this address.")).to_be_visible()
    shot = f"not-found-{'phone' if phone else 'desktop'}"
    dead_end(page, "Page not found", "Go to your home page", "Practise", shot)


@WIDTHS
def test_signed_out_an_unknown_address_leads_to_the_sign_in_page(open_page, app_url, phone):
    page = open_page(phone=phone)
    page.goto(f"{app_url}/nowhere")
    dead_end(page, "Page not found", "Go to the sign-in page", "Sign in")


@WIDTHS
@pytest.mark.parametrize(
    ("who", "path", "page_for"),
    [
        ("student", "/admin", "admins"),
        ("student", "/profiles", "teachers and admins"),
        ("teacher", "/admin/budgets", "admins"),
        ("admin", "/practice", "students"),
    ],
)
def test_a_page_for_another_role_says_so_and_leads_home(
    open_page, app_url, who, path, page_for, phone
):
    page = open_page(who, phone=phone)
    page.goto(f"{app_url}{path}")
    expect(heading(page)).to_have_text(f"This page is for {page_for}")
    expect(page).to_have_url(re.compile(rf"{path}/?$"))  # not sent elsewhere without a word
    expect(page.locator("main")).to_contain_text("You're signed in as")
    if who == "student" and path == "/admin":
        screenshot(page, f"not-for-you-{'phone' if phone else 'desktop'}")
    page.get_by_role("link", name="Go to your home page").click()
    expect(heading(page)).to_have_text(START[who])


@WIDTHS
@pytest.mark.parametrize("session_id", ["not-an-id", str(uuid.uuid4())], ids=["bad", "unknown"])
def test_a_transcript_that_does_not_exist_says_so(open_page, app_url, session_id, phone):
    page = open_page("student", phone=phone)
    page.goto(f"{app_url}/transcripts/{session_id}")
    expect(page.get_by_text("is not a valid id")).to_have_count(0)
    dead_end(page, "Transcript not found", "Go to my sessions", "My sessions")


@WIDTHS
def test_a_client_that_does_not_exist_says_so(open_page, app_url, phone):
    page = open_page("teacher", phone=phone)
    page.goto(f"{app_url}/profiles/not-an-id")
    shot = f"client-not-found-{'phone' if phone else 'desktop'}"
    dead_end(page, "Client not found", "Go to all clients", "Clients", shot)


@WIDTHS
def test_every_page_load_finds_its_favicon(open_page, app_url, phone):
    page = open_page(phone=phone)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{app_url}/login")
    expect(heading(page)).to_have_text("Sign in")
    page.wait_for_load_state("networkidle")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert httpx.get(f"{app_url}{icon}").status_code == 200
    assert httpx.get(f"{app_url}/favicon.ico").status_code == 200
    assert missing == []
