"""Errors, notices and dialogs belong to the moment that raised them: a reload starts afresh.
And the small things: joining a section twice, clearing an age, leaving unsaved changes."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.app import DemoApi, fail_to_sign_in
from tests.e2e.conftest import screenshot

WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
EDITOR_URL = re.compile(r"/profiles/[0-9a-f-]{36}/?$")
LEAVE_QUESTION = "Leave without saving? Your changes to this client have not been saved."


def width(phone: bool) -> str:
    return "phone" if phone else "desktop"


@WIDTHS
def test_a_reload_closes_the_budget_dialog_and_forgets_its_error(open_page, app_url, phone):
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/admin/budgets")
    expect(page.get_by_text("Loading budgets…")).to_have_count(0)
    page.get_by_role("button", name="Add a budget").click()
    form = page.get_by_role("dialog", name="New budget")
    form.get_by_label("Limit (US dollars)").fill("abc")
    form.get_by_role("button", name="Save budget").click()
    expect(page.locator("#budget-limit-error")).to_be_visible()

    page.reload()

    expect(page.get_by_role("heading", name="Budgets & limits", level=1)).to_be_visible()
    expect(page.get_by_text("Loading budgets…")).to_have_count(0)
    page.wait_for_timeout(500)  # time for a dialog to come back, were it to
    expect(page.get_by_role("dialog")).to_have_count(0)
    page.get_by_role("button", name="Add a budget").click()
    expect(page.get_by_label("Limit (US dollars)")).to_have_value("")
    expect(page.locator("#budget-limit-error")).to_have_count(0)


@WIDTHS
def test_a_reload_after_a_failed_sign_in_shows_a_fresh_form(open_page, app_url, phone):
    page = open_page(phone=phone)
    page.goto(f"{app_url}/login")
    fail_to_sign_in(page)

    page.reload()

    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_text("Your sign-in has expired")).to_have_count(0)


@WIDTHS
def test_a_failed_sign_in_after_signing_out_shows_only_its_own_error(open_page, phone):
    page = open_page("student", phone=phone)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    fail_to_sign_in(page)
    expect(page.get_by_text("You have signed out.")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("You have signed out.")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_text("Your sign-in has expired")).to_have_count(0)
    screenshot(page, f"login-after-reload-{width(phone)}")


@WIDTHS
def test_saving_a_new_client_clears_save_this_client_first(open_page, app_url, phone):
    page = open_page("teacher", phone=phone)
    page.goto(f"{app_url}/profiles/new")
    page.get_by_role("button", name="Preview system prompt").click()
    needs_save = page.get_by_text("Save this client first")
    expect(needs_save).to_be_visible()
    page.get_by_label("Name").fill(f"Test client {uuid.uuid4().hex[:8]}")
    page.get_by_label("Presenting concern").fill("Trouble sleeping.")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved: version 1.")).to_be_visible()
    expect(needs_save).to_have_count(0)
    page.get_by_role("button", name="Preview system prompt").click()
    expect(page.get_by_role("region", name="System prompt")).to_contain_text("Trouble sleeping.")
    expect(needs_save).to_have_count(0)
    screenshot(page, f"profile-editor-saved-preview-{width(phone)}")


@WIDTHS
def test_joining_a_section_you_are_in_says_so(open_page, app_url, phone):
    teacher = DemoApi.signed_in(app_url, "teacher")
    sections = teacher.data("{ sections { nodes { name joinCode } } }")["sections"]["nodes"]
    section = next(s for s in sections if s["name"] == "Counselling Skills 101")  # the demo's
    page = open_page("student", phone=phone)
    page.get_by_label("Join code").fill(section["joinCode"])
    page.get_by_role("button", name="Join", exact=True).click()

    expect(page.get_by_role("status").filter(has_text=section["name"])).to_have_text(
        f"You're already in {section['name']}."
    )
    expect(page.get_by_text("You joined")).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="Practise", level=1)).to_be_visible()
    expect(page.get_by_text("You're already in")).to_have_count(0)


@WIDTHS
def test_a_saved_age_can_be_cleared(open_page, app_url, phone):
    teacher = DemoApi.signed_in(app_url, "teacher")
    create = """mutation($input: CreateClientProfileInput!) {
      createClientProfile(input: $input) { clientProfile { id } } }"""
    new = {"name": f"Aged client {uuid.uuid4().hex[:8]}", "presentingConcern": "Grief.", "age": 52}
    profile_id = teacher.data(create, input=new)["createClientProfile"]["clientProfile"]["id"]
    page = open_page("teacher", phone=phone)
    page.goto(f"{app_url}/profiles/{profile_id}")
    age = page.get_by_label("Age", exact=True)
    expect(age).to_have_value("52")
    age.fill("")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved: version 2.")).to_be_visible()
    expect(page.locator("#profile-age-error")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("Age", exact=True)).to_have_value("")
    query = "query($id: ID!) { clientProfile(id: $id) { age } }"
    assert teacher.data(query, id=profile_id)["clientProfile"]["age"] is None


@WIDTHS
def test_leaving_unsaved_changes_asks_first(open_page, app_url, phone):
    page = open_page("teacher", phone=phone)
    page.goto(f"{app_url}/profiles/new")
    page.get_by_label("Name").fill("Half-written client")
    expect(page.get_by_text("Unsaved changes")).to_be_visible()

    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(f"{dialog.type}: {dialog.message}")
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("link", name="All clients").click()
    expect(page).to_have_url(re.compile(r"/profiles/new/?$"))  # stayed
    expect(page.get_by_label("Name")).to_have_value("Half-written client")
    assert asked == [f"confirm: {LEAVE_QUESTION}"]

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.close(run_before_unload=True)  # closing the tab: the browser's own question
    page.wait_for_event("close")
    assert asked[-1].startswith("beforeunload")


def test_a_saved_client_is_left_without_a_question(open_page, app_url):
    page = open_page("teacher")
    page.goto(f"{app_url}/profiles/new")
    page.get_by_label("Name").fill(f"Test client {uuid.uuid4().hex[:8]}")
    page.get_by_label("Presenting concern").fill("Trouble sleeping.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(EDITOR_URL)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.get_by_role("link", name="All clients").click()
    expect(page.get_by_role("heading", name="Clients", level=1)).to_be_visible()
    assert asked == []
