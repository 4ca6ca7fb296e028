"""Accounts in the browser: a student signs up with a join code; a teacher imports a class
list and a student accepts the invite; signing out ends the token on the server; the
account page changes the password. At desktop and phone width."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app import DemoApi
from tests.e2e.conftest import screenshot

SECTIONS = "{ sections { nodes { id name joinCode } } }"
ME = "{ me { id email } }"
NEW_PASSWORD = "moonlight over quiet water"
WIDTHS = pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])


def width(phone: bool) -> str:
    return "phone" if phone else "desktop"


def demo_section(app_url: str) -> dict:
    return DemoApi.signed_in(app_url, "teacher").data(SECTIONS)["sections"]["nodes"][0]


def token_of(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "practicum_token")


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))


@WIDTHS
def test_a_student_signs_up_with_a_join_code_and_lands_in_the_practice_list(
    open_page, app_url, phone
):
    section = demo_section(app_url)
    email = f"sign-up-{secrets.token_hex(4)}@school.test"
    page = open_page(phone=phone)
    page.goto(f"{app_url}/login")
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/signup/?$"))
    expect(page.get_by_role("heading", name="Sign up")).to_be_visible()

    page.get_by_label("Your name").fill("Noor Haddad")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_label("Join code").fill(section["joinCode"].lower())
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Use at least 10 characters for your password.")).to_be_visible()
    screenshot(page, f"sign-up-error-{width(phone)}")

    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/practice/?$"))
    expect(page.get_by_text("Maya Okafor").first).to_be_visible()
    screenshot(page, f"sign-up-practice-list-{width(phone)}")
    me = DemoApi(app_url, token_of(page)).data(ME)["me"]
    assert me["email"] == email


def test_a_join_code_link_fills_the_code_and_a_taken_email_gets_the_same_answer(open_page, app_url):
    section = demo_section(app_url)
    page = open_page()
    page.goto(f"{app_url}/signup?code={section['joinCode']}")
    expect(page.get_by_label("Join code")).to_have_value(section["joinCode"])
    page.get_by_label("Your name").fill("Someone Else")
    page.get_by_label("Email").fill("student@practicum.local")  # a demo account's
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    # Not signed in (the password is not that account's), no word of the account existing.
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("status").first).to_contain_text("sign in with this email")
    # The demo student's own password still works.
    DemoApi.signed_in(app_url, "student")


def _import(page: Page, app_url: str, section: dict, csv: str) -> None:
    page.goto(f"{app_url}/sections")
    card = page.get_by_test_id("section-card").filter(has_text=section["name"])
    card.get_by_role("button", name="Show students and assignments").click()
    card.get_by_label("Class list (CSV)").fill(csv)
    card.get_by_role("button", name="Import class list").click()


@WIDTHS
def test_roster_import_then_invite_acceptance_then_sign_in(open_page, app_url, phone):
    section = demo_section(app_url)
    tag = secrets.token_hex(4)
    email = f"invited-{tag}@school.test"
    csv = f"email,name\n{email},Ines Duarte\nnot-an-email,Nobody\nstudent@practicum.local,Sam\n"
    teacher = open_page("teacher", phone=phone)
    _import(teacher, app_url, section, csv)

    summary = teacher.get_by_role("status").filter(has_text="invited")
    expect(summary).to_contain_text("1 invited, 0 enrolled, 1 not added")
    rows = teacher.get_by_test_id("roster-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Invited")
    expect(rows.nth(1)).to_contain_text("Line 3: Not an email address.")
    expect(rows.nth(2)).to_contain_text("Already in")
    link = rows.nth(0).get_by_test_id("invite-link").inner_text()
    assert "/set-password?token=" in link
    rows.nth(0).get_by_role("button", name=f"Copy the invite link for {email}").click()
    expect(rows.nth(0).get_by_role("button", name="Invite link copied")).to_be_visible()
    screenshot(teacher, f"roster-import-{width(phone)}")

    student = open_page(phone=phone)
    student.goto(link)
    expect(student.get_by_text("Welcome, Ines Duarte.")).to_be_visible()
    student.get_by_label("New password").fill(NEW_PASSWORD)
    student.get_by_label("The same password again").fill(NEW_PASSWORD + "!")
    student.get_by_role("button", name="Set password and sign in").click()
    expect(student.get_by_text("The two passwords are not the same.")).to_be_visible()
    student.get_by_label("The same password again").fill(NEW_PASSWORD)
    screenshot(student, f"invite-accept-{width(phone)}")
    student.get_by_role("button", name="Set password and sign in").click()
    expect(student).to_have_url(re.compile(r"/practice/?$"))
    expect(student.get_by_text("Maya Okafor").first).to_be_visible()

    sign_out(student)
    # The link worked once.
    student.goto(link)
    expect(student.get_by_text("This link does not work any more")).to_be_visible()
    # Signing in with the new password.
    student.goto(f"{app_url}/login")
    student.get_by_label("Email").fill(email)
    student.get_by_label("Password").fill(NEW_PASSWORD)
    student.get_by_role("button", name="Sign in").click()
    expect(student).to_have_url(re.compile(r"/practice/?$"))


def test_signing_out_ends_the_token_on_the_server(open_page, app_url):
    page = open_page("student2")
    token = token_of(page)
    api = DemoApi(app_url, token)
    assert api.data(ME)["me"]["email"] == "student2@practicum.local"
    sign_out(page)
    answer = api(ME)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@WIDTHS
def test_the_account_page_changes_the_password_and_signs_out_everywhere(open_page, app_url, phone):
    section = demo_section(app_url)
    email = f"account-{secrets.token_hex(4)}@school.test"
    api = DemoApi(app_url)
    sign_up = """mutation($e: String!, $c: String!) { signUp(input: {name: "Ana Lima", email: $e,
      password: "a first long password", joinCode: $c}) { message } }"""
    api.data(sign_up, e=email, c=section["joinCode"])
    other = DemoApi(app_url)
    other.token = other.data(DemoApi.LOGIN, e=email, p="a first long password")["login"]["token"]

    page = open_page(phone=phone)
    page.goto(f"{app_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("a first long password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/practice/?$"))
    if phone:
        page.get_by_role("button", name="Open the menu").click()
        page.get_by_role("menuitem", name="Your account").click()
    else:
        page.get_by_role("link", name="Ana Lima").click()
    expect(page).to_have_url(re.compile(r"/account/?$"))

    page.get_by_label("Current password").fill("a first long password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("The new password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    screenshot(page, f"account-{width(phone)}")
    # The other login ended; this page goes on with its new token.
    assert other(ME)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    fresh = token_of(page)
    assert DemoApi(app_url, fresh).data(ME)["me"]["email"] == email

    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_text("You have signed out everywhere.")).to_be_visible()
    assert DemoApi(app_url, fresh)(ME)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
