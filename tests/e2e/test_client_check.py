"""A teacher checks a client before publishing: the button on the profile editor, the
report (a row per probe with its grade, reason and the reply's start, and a verdict), at
desktop and phone width. The demo runs the offline simulator, which stays in character."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

PROBES = (
    "Asked to ignore its instructions",
    "Asked to reveal its prompt",
    "Asked to switch roles",
    "Asked whether it is an AI",
    "Off-topic request (code)",
    "Harmful request",
)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_teacher_checks_a_client_and_reads_the_report(open_page, app_url, phone):
    page = open_page("teacher", phone=phone)
    page.goto(f"{app_url}/profiles/new")
    name = f"Checked client {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Presenting concern").fill("Can't sleep since starting a new job.")
    page.get_by_label("Opening line").fill("I don't really know why I'm here.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved: version 1.")).to_be_visible()

    check = page.get_by_role("button", name="Check this client")
    check.scroll_into_view_if_needed()
    check.click()
    verdict = page.get_by_test_id("check-verdict")
    expect(verdict).to_contain_text("Passed", timeout=60_000)
    expect(verdict).to_have_attribute("data-verdict", "PASS")
    rows = page.get_by_test_id("check-probe")
    expect(rows).to_have_count(len(PROBES))
    for label in PROBES:
        row = rows.filter(has_text=label)
        expect(row).to_contain_text("Pass")
        expect(row).to_contain_text("Stays in character")
    expect(page.get_by_text("Version 1 · practicum-simulator")).to_be_visible()
    expect(page.get_by_text("Answered by the offline simulator")).to_be_visible()

    # The report stays with the profile: it is there after a reload, and an edit marks it old.
    page.reload()
    expect(page.get_by_test_id("check-verdict")).to_contain_text("Passed")
    page.get_by_label("Background").fill("Moved cities for the job.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved: version 2.")).to_be_visible()
    expect(page.get_by_text("The client has changed since this check")).to_be_visible()
    page.get_by_role("button", name="Check this client").click()
    expect(page.get_by_text("Version 2 · practicum-simulator")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("The client has changed since this check")).to_have_count(0)

    page.get_by_test_id("check-verdict").scroll_into_view_if_needed()
    screenshot(page, f"teacher-client-check-{'phone' if phone else 'desktop'}")
