"""Admins set budgets and rate limits on "Budgets & limits", and students meet the limits.

Tests share one server: each budget made here is deleted again, and the message limit is
put back as it was."""

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app import DemoApi
from tests.e2e.conftest import SCREENSHOTS, screenshot
from ui.format import money

RESETS_AT = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, 00:00 UTC")
SEND = """mutation($s: ID!, $c: String!) {
  sendMessage(sessionId: $s, content: $c) { userMessage { id } } }"""
STOP = "mutation($s: ID!) { stopReply(sessionId: $s) { message { id } } }"
SET_RATE_LIMITS = """mutation($input: SetRateLimitsInput!) {
  setRateLimits(input: $input) { rateLimits { messagesPerStudent } } }"""


def open_budgets(open_page, app_url: str, phone: bool = False) -> Page:
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/admin/budgets")
    expect(page.get_by_role("heading", name="Budgets & limits", level=1)).to_be_visible()
    expect(page.get_by_text("Loading budgets…")).to_have_count(0)
    return page


def an_amount() -> str:
    """Dollars no other test uses, to find this test's budget by; no trailing zero, which
    the API leaves out ("12.5", not "12.50")."""
    cents = 10 * (1 + secrets.randbelow(9)) + 1 + secrets.randbelow(9)
    return f"{secrets.randbelow(90_000) + 10_000}.{cents}"


def budget_row(page: Page, applies_to: str, amount: str):
    return page.get_by_role("row").filter(has_text=applies_to).filter(has_text=money(amount))


def budget_card(page: Page, applies_to: str, amount: str):
    """A budget as a phone shows it."""
    return (
        page.get_by_test_id("budget-card")
        .filter(has_text=applies_to)
        .filter(has_text=money(amount))
    )


def delete_budget(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Delete {name}").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text(f"no longer be capped by {name}")
    confirm.get_by_role("button", name="Delete budget").click()
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text=f"Deleted {name}.")).to_be_visible()


def test_an_admin_sets_a_daily_budget_for_everyone_and_deletes_it(open_page, app_url):
    page = open_budgets(open_page, app_url)
    amount = an_amount()

    page.get_by_role("button", name="Add a budget").click()
    form = page.get_by_role("dialog", name="New budget")
    expect(form.get_by_label("Applies to")).to_have_text("Everyone")
    expect(form.get_by_role("radio", name="Daily")).to_be_checked()
    limit = form.get_by_label("Limit (US dollars)")
    for bad, message in [
        ("abc", "Enter the limit in US dollars"),
        ("-1", "The limit must be a positive amount of US dollars."),
    ]:
        limit.fill(bad)
        form.get_by_role("button", name="Save budget").click()
        expect(page.locator("#budget-limit-error")).to_contain_text(message)
        expect(limit).to_have_attribute("aria-invalid", "true")
    limit.fill(amount)
    form.get_by_label("Alert at (% of the limit)").fill("50, 90")
    form.get_by_role("button", name="Save budget").click()

    expect(form).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Budget saved.")).to_be_visible()
    row = budget_row(page, "Everyone", amount)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Daily")
    expect(row).to_contain_text("50, 90 %")
    expect(row.get_by_role("cell").first).to_have_text(re.compile(r"^\$[\d.]+\s*(< 1|\d+) %$"))
    expect(row).to_contain_text(RESETS_AT)
    screenshot(page, "admin-budgets-desktop")

    delete_budget(page, "the daily budget for Everyone")
    expect(budget_row(page, "Everyone", amount)).to_have_count(0)


def test_a_budget_for_one_student_on_a_phone(open_page, app_url):
    page = open_budgets(open_page, app_url, phone=True)
    amount = an_amount()

    page.get_by_role("button", name="Add a budget").click()
    form = page.get_by_role("dialog", name="New budget")
    form.get_by_label("Applies to").click()
    page.get_by_role("option", name="A student").click()
    form.get_by_role("button", name="Save budget").click()
    expect(page.locator("#budget-student-error")).to_have_text("Choose the student.")
    expect(page.locator("#budget-limit-error")).to_contain_text("Enter the limit")
    form.get_by_label("Student", exact=True).click()
    student = page.get_by_role("option").first
    name = student.inner_text().rsplit(" (", 1)[0]
    student.click()
    monthly = form.get_by_role("radio", name="Monthly")
    monthly.click()
    expect(monthly).to_be_checked()
    form.get_by_label("Limit (US dollars)").fill(amount)
    expect(page.locator("#budget-limit-error")).to_have_count(0)  # corrected: the error goes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the dialog as seen, not the whole page
    page.screenshot(path=SCREENSHOTS / "admin-budgets-form-phone.png")
    form.get_by_role("button", name="Save budget").click()

    expect(form).to_be_hidden()
    card = budget_card(page, name, amount)  # a card per budget: a table's columns do not fit
    expect(card).to_contain_text("Monthly")
    expect(card).to_contain_text("Student")
    expect(page.get_by_role("table", name="Budgets")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "admin-budgets-phone")

    cards = page.get_by_test_id("budget-card")
    for i in range(cards.count()):  # every budget's buttons in view, so it can be edited
        for button in cards.nth(i).get_by_role("button", name=re.compile("^(Edit|Delete) ")).all():
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            button.click(trial=True)
    card.get_by_role("button", name=f"Edit the monthly budget for {name}").click()
    expect(page.get_by_role("dialog", name="Edit")).to_be_visible()
    page.keyboard.press("Escape")

    delete_budget(page, f"the monthly budget for {name}")
    expect(budget_card(page, name, amount)).to_have_count(0)


def admin_token(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "practicum_token")


def send_and_stop(student: DemoApi, session_id: str) -> dict:
    """Send a message and stop the reply at once, so that the next message may follow."""
    answer = student(SEND, s=session_id, c="Can we talk about this week?")
    if "errors" not in answer:
        student.data(STOP, s=session_id)
    return answer


def test_a_new_message_limit_applies_to_students_at_once(open_page, app_url):
    page = open_budgets(open_page, app_url)
    field = page.get_by_label("Messages per student")
    expect(field).not_to_have_value("")
    before = field.input_value()
    admin = DemoApi(app_url, admin_token(page))
    try:
        field.fill("abc")
        page.get_by_role("button", name="Save limits").click()
        expect(page.locator("#messagesPerStudent-error")).to_contain_text(
            "write a count per period, like 10/minute"
        )
        expect(page.get_by_text("Nothing was saved")).to_be_visible()

        field.fill("3/minute")
        page.get_by_role("button", name="Save limits").click()
        expect(page.get_by_text("Saved. The new limits apply from now on.")).to_be_visible()
        expect(page.get_by_text(re.compile(r"Last changed .* UTC"))).to_be_visible()
        screenshot(page, "admin-rate-limits-saved-desktop")

        student = DemoApi.signed_in(app_url, "student2")
        client = student.data("{ clientProfiles { nodes { id } } }")["clientProfiles"]["nodes"][0]
        session_id = student.data(
            "mutation($c: ID!) { startSession(clientId: $c, new: true) { session { id } } }",
            c=client["id"],
        )["startSession"]["session"]["id"]
        answers = [send_and_stop(student, session_id) for _ in range(4)]

        assert ["errors" in answer for answer in answers] == [False, False, False, True]
        refused = answers[3]["errors"][0]
        assert refused["extensions"]["code"] == "RATE_LIMITED"
        assert 0 < refused["extensions"]["retryAfter"] <= 60
    finally:
        admin.data(SET_RATE_LIMITS, input={"messagesPerStudent": before})
    page.reload()
    expect(page.get_by_label("Messages per student")).to_have_value(before)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_page_explains_the_rate_limit_format(open_page, app_url, phone):
    page = open_budgets(open_page, app_url, phone=phone)

    expect(page.get_by_role("heading", name="Rate limits", level=2)).to_be_visible()
    expect(page.get_by_text('like "10/minute"')).to_be_visible()
    expect(page.get_by_text("Leave a field empty for no limit", exact=False)).to_be_visible()
    for label in ("Messages for everyone", "Sign-ins per network address", "Sign-ins per account"):
        expect(page.get_by_label(label)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    screenshot(page, f"admin-budgets-limits-{'phone' if phone else 'desktop'}")
