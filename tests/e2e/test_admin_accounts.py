"""Admins look after accounts in the browser: an admin deactivates a student who is in the
middle of a practice session (the student's page says so and signs out), creates an API key
that a script then uses over loopback to read usage (and that stops working when revoked),
and reads the audit log. At desktop and phone width.

Every test makes accounts of its own: the demo accounts are shared with other tests."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app import DemoApi
from tests.e2e.conftest import screenshot
from tests.e2e.test_student import _reply_done, _send

WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
PASSWORD = "a long enough passphrase"
CREATE_USER = """mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }"""
JOIN = "mutation($c: String!) { joinSection(joinCode: $c) { section { id } } }"
SECTIONS = "{ sections(first: 100) { nodes { name joinCode } } }"


def _width(phone: bool) -> str:
    return "phone" if phone else "desktop"


def _a_student_in_the_demo_section(app_url: str, name: str) -> tuple[str, str]:
    """A new student, enrolled in the demo section, with a practice session open: (email,
    the session's id)."""
    admin = DemoApi.signed_in(app_url, "admin")
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@school.test"
    admin.data(
        CREATE_USER,
        input={"email": email, "name": name, "role": "STUDENT", "password": PASSWORD},
    )
    code = admin.data(SECTIONS)["sections"]["nodes"][0]["joinCode"]
    student = DemoApi(app_url)
    student.token = student.data(DemoApi.LOGIN, e=email, p=PASSWORD)["login"]["token"]
    student.data(JOIN, c=code)
    return email, student.start_session(new=True)


def _sign_in_as(page: Page, app_url: str, email: str) -> None:
    page.goto(f"{app_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def _open_users(open_page, app_url: str, phone: bool) -> Page:
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/admin/users")
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()
    expect(page.get_by_text("Loading people…")).to_have_count(0)
    return page


def _search(page: Page, text: str) -> None:
    page.get_by_role("searchbox", name="Search").fill(text)
    page.get_by_role("button", name="Search", exact=True).click()


@WIDTHS
def test_a_student_deactivated_mid_session_is_told_and_signed_out(open_page, app_url, phone):
    name = f"Mira {uuid.uuid4().hex[:4]}"
    email, session_id = _a_student_in_the_demo_section(app_url, name)
    student = open_page(None, phone=phone)
    _sign_in_as(student, app_url, email)
    student.goto(f"{app_url}/practice/{session_id}")
    _send(student, "Hello, thanks for coming in today.")
    _reply_done(student)

    admin = _open_users(open_page, app_url, phone)
    _search(admin, email)
    admin.get_by_role("button", name=f"Deactivate for {name}").first.click()
    confirm = admin.get_by_role("alertdialog")
    expect(confirm).to_contain_text(f"Deactivate {name}?")
    expect(confirm).to_contain_text("signed out everywhere at once")
    screenshot(admin, f"admin-users-deactivate-confirm-{_width(phone)}")
    confirm.get_by_role("button", name="Deactivate").click()
    expect(confirm).to_be_hidden()
    expect(admin.get_by_role("status").filter(has_text="deactivated")).to_be_visible()
    screenshot(admin, f"admin-users-{_width(phone)}")

    # The student's open page says why, at once, then goes to the sign-in page, which says
    # it again.
    told = student.get_by_role("alert").filter(has_text="This account is disabled")
    expect(told).to_be_visible(timeout=5_000)
    screenshot(student, f"student-deactivated-mid-session-{_width(phone)}")
    expect(student).to_have_url(f"{app_url}/login", timeout=10_000)
    expect(
        student.get_by_role("status").filter(has_text="This account is disabled")
    ).to_be_visible()
    expect(student.get_by_role("button", name="Sign out")).to_have_count(0)
    screenshot(student, f"student-deactivated-sign-in-{_width(phone)}")
    # And signing in again is refused.
    student.get_by_label("Email").fill(email)
    student.get_by_label("Password").fill(PASSWORD)
    student.get_by_role("button", name="Sign in").click()
    expect(student.get_by_role("alert").first).to_contain_text("disabled")

    # The admin's reactivation is in the audit log with the deactivation.
    admin.get_by_role("button", name=f"Reactivate for {name}").first.click()
    admin.get_by_role("alertdialog").get_by_role("button", name="Reactivate").click()
    expect(admin.get_by_role("status").filter(has_text="can sign in again")).to_be_visible()
    admin.goto(f"{app_url}/admin/audit")
    expect(admin.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    entries = admin.get_by_test_id("audit-card") if phone else admin.get_by_role("row")
    expect(entries.filter(has_text="Account reactivated").first).to_be_visible()
    expect(entries.filter(has_text="Account deactivated").first).to_be_visible()
    screenshot(admin, f"admin-audit-{_width(phone)}")


SCRIPT = """
import json, sys
import httpx

url, key = sys.argv[1], sys.argv[2]
query = '''query($r: DateRangeInput!) {
  usageSummary(range: $r) { sessions totals { messages cost } } }'''
today = __import__("datetime").date.today().isoformat()
answer = httpx.post(
    url + "/graphql",
    json={"query": query, "variables": {"r": {"start": today, "end": today}}},
    headers={"Authorization": "Bearer " + key},
    timeout=30,
)
print(json.dumps(answer.json()))
"""


def _script(app_url: str, key: str) -> dict:
    """An integrator's script, in a process of its own, over loopback."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, app_url, key],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


@WIDTHS
def test_an_api_key_made_in_the_ui_reads_usage_from_a_script(open_page, app_url, phone):
    assert app_url.startswith("http://127.0.0.1:") or app_url.startswith("http://localhost:")
    page = open_page("admin", phone=phone)
    page.goto(f"{app_url}/admin/api-keys")
    expect(page.get_by_role("heading", name="API keys", level=1)).to_be_visible()
    name = f"Cost report {uuid.uuid4().hex[:4]}"
    page.get_by_role("button", name="New API key").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(name)
    expect(dialog.get_by_label("May")).to_contain_text("Read usage analytics only")
    screenshot(page, f"admin-api-key-new-{_width(phone)}")
    dialog.get_by_role("button", name="Create key").click()
    expect(dialog).to_be_hidden()

    shown = page.locator("#new-api-key")
    expect(shown).to_contain_text("pk_")
    key = shown.inner_text().strip()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.get_by_role("button", name="Copy key")).to_be_visible()
    screenshot(page, f"admin-api-key-shown-{_width(phone)}")

    answer = _script(app_url, key)
    assert "errors" not in answer, answer
    assert "cost" in answer["data"]["usageSummary"]["totals"]

    # Once saved, the key is never shown again; the list says when it was last used.
    page.get_by_role("button", name="I have saved it").click()
    expect(page.locator("#new-api-key")).to_have_count(0)
    page.reload()
    listed = page.get_by_test_id("api-key-card") if phone else page.get_by_role("row")
    entry = listed.filter(has_text=name)
    expect(entry).to_contain_text("UTC")  # last used: a time, no longer "Never"
    assert key not in page.content()
    screenshot(page, f"admin-api-keys-{_width(phone)}")

    # Revoked: the script is refused at once.
    page.get_by_role("button", name=f"Revoke {name}").click()
    confirm = page.get_by_role("alertdialog")
    confirm.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_role("status").filter(has_text="is revoked")).to_be_visible()
    expect(entry).to_contain_text("Revoked")
    refused = _script(app_url, key)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", refused


def test_the_admin_pages_are_in_the_phone_menu(open_page, app_url):
    page = open_page("admin", phone=True)
    page.goto(f"{app_url}/admin")
    page.get_by_role("button", name="Open the menu").click()
    menu = page.get_by_role("menu")
    for label in ("Users", "API keys", "Audit log"):
        expect(menu.get_by_role("menuitem", name=label)).to_be_visible()
    screenshot(page, "admin-phone-menu")
    menu.get_by_role("menuitem", name="Users").click()
    expect(page.get_by_role("heading", name="Users", level=1)).to_be_visible()


def test_an_admin_makes_a_password_reset_link_to_copy(open_page, app_url):
    name = f"Rafi {uuid.uuid4().hex[:4]}"
    email, _ = _a_student_in_the_demo_section(app_url, name)
    page = _open_users(open_page, app_url, phone=False)
    _search(page, email)
    page.get_by_role("button", name=f"Password-reset link for {name}").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("one-time link")
    confirm.get_by_role("button", name="Make a reset link").click()
    link = page.locator("#reset-link")
    expect(link).to_contain_text("/set-password?token=")
    expect(page.get_by_role("button", name="Copy link")).to_be_visible()
    screenshot(page, "admin-users-reset-link-desktop")

    # The link works once: the student chooses a new password with it and signs in.
    token = link.inner_text().split("token=", 1)[1].strip()
    api = DemoApi(app_url)
    accept = """mutation($t: String!, $p: String!) {
      acceptAccountLink(input: {token: $t, password: $p}) { token } }"""
    api.data(accept, t=token, p="a brand new passphrase")
    assert api.data(DemoApi.LOGIN, e=email, p="a brand new passphrase")["login"]["token"]
    assert api(accept, t=token, p="another new passphrase")["errors"]
