"""Teachers write client profiles: the list, the editor with the API's checks by the field,
the system prompt preview, archiving, and a test conversation."""

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, screenshot, sign_in

SESSION_URL = re.compile(r"/practice/[0-9a-f-]{36}/?$")
EDITOR_URL = re.compile(r"/profiles/[0-9a-f-]{36}/?$")


@pytest.fixture(scope="module")
def teacher_tab(browser, app_url):
    """One signed-in tab for the module: signing in is rate-limited per account."""
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
    page = context.new_page()
    sign_in(page, app_url, "teacher")
    yield page
    context.close()


@pytest.fixture
def page(teacher_tab) -> Page:
    teacher_tab.set_viewport_size(DESKTOP)
    return teacher_tab


def _unique(prefix: str = "Test client") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _new_client(page: Page, app_url: str, name: str, concern: str = "Trouble sleeping.") -> None:
    """Open the editor for a new client and fill in what it needs."""
    page.goto(f"{app_url}/profiles/new")
    expect(page.get_by_role("heading", name="New client", level=1)).to_be_visible()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Presenting concern").fill(concern)


def _create(page: Page, app_url: str, name: str) -> None:
    _new_client(page, app_url, name)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved: version 1.")).to_be_visible()
    expect(page).to_have_url(EDITOR_URL)


def _client_list(page: Page, app_url: str) -> Page:
    """The client list in a new tab (signed in already), every page of it loaded. A new tab
    starts from a fresh page state, so nothing from an earlier visit shows for a moment."""
    tab = page.context.new_page()
    tab.goto(f"{app_url}/profiles")
    _load_every_page(tab)
    return tab


def _load_every_page(tab: Page) -> None:
    expect(tab.get_by_text("Loading your clients…")).to_have_count(0)
    cards = tab.get_by_test_id("profile-card")
    more = tab.get_by_role("button", name="Load more")
    while more.count():
        shown = cards.count()
        more.click()
        expect(cards).not_to_have_count(shown)


def _show_archived(tab: Page) -> None:
    switch = tab.get_by_role("switch", name="Show archived")
    switch.click()
    expect(switch).to_be_checked()  # once the server has it, and is loading the list again
    _load_every_page(tab)


def _card(page: Page, name: str):
    return page.get_by_test_id("profile-card").filter(has_text=name)


def test_a_teacher_writes_a_client_with_every_field_and_finds_it_in_the_list(page, app_url):
    page.get_by_role("link", name="New client").click()
    expect(page).to_have_url(re.compile(r"/profiles/new/?$"))
    name = _unique()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Age", exact=True).fill("34")
    page.get_by_label("Presenting concern").fill("Panic attacks before team meetings.")
    page.get_by_label("Background").fill("Junior accountant, moved cities last year.")
    traits = page.get_by_label("Personality traits")
    traits.fill("anxious")
    traits.press("Enter")
    traits.fill("polite, self-critical")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("button", name="Remove the trait self-critical")).to_be_visible()
    page.get_by_label("Communication style").fill("Apologises a lot; long pauses.")
    page.get_by_label("Opening line").fill("Sorry, I'm not sure where to start.")
    page.get_by_label("Boundaries").fill("Avoids talking about her father.")
    page.get_by_role("radio", name="Hard", exact=True).click()
    expect(page.get_by_text("Hard · 4/5")).to_be_visible()
    page.get_by_label("Learning goals").fill("Practise grounding and summarising.")
    page.get_by_label("Model").click()
    page.get_by_role("option", name="claude-haiku-4-5").click()
    expect(page.get_by_text("Unsaved changes")).to_be_visible()

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved: version 1.")).to_be_visible()
    expect(page).to_have_url(EDITOR_URL)
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_text("Unsaved changes")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Boundaries")).to_have_value("Avoids talking about her father.")
    expect(page.get_by_role("button", name="Remove the trait polite")).to_be_visible()
    expect(page.get_by_label("Model")).to_contain_text("claude-haiku-4-5")

    page.get_by_role("link", name="All clients").click()
    expect(page).to_have_url(re.compile(r"/profiles/?$"))
    clients = _client_list(page, app_url)
    card = _card(clients, name)
    expect(card).to_contain_text("Hard · 4/5")
    expect(card).to_contain_text("Panic attacks before team meetings.")
    expect(card).to_contain_text("claude-haiku-4-5")
    expect(card).to_contain_text("Version 1")
    card.click()
    expect(clients.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_an_empty_name_is_shown_by_the_name_field_and_nothing_is_saved(page, app_url):
    concern = _unique("A concern with no client")
    _new_client(page, app_url, name="", concern=concern)

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("#profile-name-error")).to_have_text("Name cannot be empty.")
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.locator("#profile-errors")).to_contain_text("Name cannot be empty.")
    expect(page.locator("#profile-presentingConcern-error")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/profiles/new/?$"))
    expect(_client_list(page, app_url).get_by_text(concern)).to_have_count(0)


def test_the_apis_own_checks_are_shown_by_their_fields(page, app_url):
    _new_client(page, app_url, name="N" * 121)
    page.get_by_label("Age", exact=True).fill("130")
    page.get_by_label("Opening line").fill("Hello. " * 600)

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.locator("#profile-name-error")).to_contain_text("at most 60")
    expect(page.locator("#profile-openingLine-error")).to_contain_text("at most 4000")
    expect(page.locator("#profile-age-error")).to_have_text("Age must be between 1 and 120.")
    expect(page.locator("#profile-errors")).to_contain_text("Opening line is too long")
    expect(page).to_have_url(re.compile(r"/profiles/new/?$"))
    page.get_by_label("Name").fill("N" * 120)
    expect(page.locator("#profile-name-error")).to_have_count(0)


def test_the_preview_shows_unsaved_edits_and_saving_bumps_the_version(page, app_url):
    _create(page, app_url, _unique())
    expect(page.get_by_test_id("profile-version")).to_have_text("Version 1")
    line = f"Honestly I only came because of {uuid.uuid4().hex[:8]}."
    page.get_by_label("Opening line").fill(line)
    expect(page.get_by_text("Unsaved changes")).to_be_visible()

    page.get_by_role("button", name="Preview system prompt").click()

    preview = page.get_by_role("region", name="System prompt")
    expect(preview).to_contain_text(line)
    expect(page.get_by_text(re.compile(r"About \d+ tokens · template version \d+"))).to_be_visible()
    expect(page.get_by_text("includes your unsaved changes")).to_be_visible()
    expect(page.get_by_test_id("profile-version")).to_have_text("Version 1")

    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved: version 2.")).to_be_visible()
    expect(page.get_by_test_id("profile-version")).to_have_text("Version 2")
    expect(page.get_by_text("Unsaved changes")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Opening line")).to_have_value(line)
    expect(page.get_by_test_id("profile-version")).to_have_text("Version 2")


def test_a_new_client_must_be_saved_before_its_preview(page, app_url):
    name = _unique()
    _new_client(page, app_url, name)
    page.get_by_role("button", name="Preview system prompt").click()
    expect(page.get_by_text("Save this client first")).to_be_visible()

    page.get_by_role("button", name="Save and preview").click()

    expect(page.get_by_role("region", name="System prompt")).to_contain_text(name)
    expect(page).to_have_url(EDITOR_URL)
    expect(page.get_by_test_id("profile-version")).to_have_text("Version 1")


def test_an_archived_client_is_listed_only_with_show_archived(page, app_url):
    name = _unique()
    _create(page, app_url, name)

    page.get_by_role("button", name="Archive client").click()

    expect(page.get_by_role("status")).to_have_text("Client archived.")
    expect(page.get_by_role("button", name="Test conversation")).to_be_disabled()
    clients = _client_list(page, app_url)
    expect(clients.get_by_test_id("profile-card").first).to_be_visible()
    expect(_card(clients, name)).to_have_count(0)
    _show_archived(clients)
    expect(_card(clients, name)).to_contain_text("Archived")

    _card(clients, name).click()
    clients.get_by_role("button", name="Restore client").click()
    expect(clients.get_by_role("status")).to_have_text("Client restored.")
    expect(clients.get_by_role("button", name="Test conversation")).to_be_enabled()
    card = _card(_client_list(page, app_url), name)
    expect(card).to_be_visible()
    expect(card).not_to_contain_text("Archived")


def test_test_conversation_saves_the_new_client_and_opens_the_chat(page, app_url):
    name = _unique()
    _new_client(page, app_url, name)

    page.get_by_role("button", name="Test conversation").click()

    expect(page).to_have_url(SESSION_URL)
    expect(_card(_client_list(page, app_url), name)).to_be_visible()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_screenshots_of_the_list_and_the_editor(page, app_url, phone):
    width = "phone" if phone else "desktop"
    page.set_viewport_size(PHONE if phone else DESKTOP)
    page.goto(f"{app_url}/profiles")
    expect(page.get_by_test_id("profile-card").first).to_be_visible()
    screenshot(page, f"teacher-profiles-{width}")
    page.get_by_role("link", name="New client").click()
    name = _unique("Priya")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Age", exact=True).fill("29")
    page.get_by_label("Presenting concern").fill("Burnout after a year of night shifts.")
    traits = page.get_by_label("Personality traits")
    traits.fill("dry humour, tired, loyal")
    traits.press("Enter")
    page.get_by_role("radio", name="Very hard").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved: version 1.")).to_be_visible()
    page.get_by_label("Opening line").fill("I've got twenty minutes, so let's be quick.")
    page.get_by_role("button", name="Preview system prompt").click()
    expect(page.get_by_role("region", name="System prompt")).to_contain_text("twenty minutes")
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"teacher-profile-editor-{width}")
