"""Everyone signs in through the same page and lands where their work is."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.app import fail_to_sign_in
from tests.e2e.conftest import screenshot


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_sign_in_page_says_what_is_wrong(open_page, app_url, phone):
    page = open_page(phone=phone)
    page.goto(f"{app_url}/login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Enter your email address.")).to_be_visible()
    fail_to_sign_in(page)
    screenshot(page, f"login-error-{'phone' if phone else 'desktop'}")


@pytest.mark.parametrize(
    ("who", "path"),
    [("student", "/practice"), ("teacher", "/profiles"), ("admin", "/admin")],
)
def test_each_role_lands_on_its_start_page_and_can_sign_out(open_page, app_url, who, path):
    page = open_page(who)
    expect(page).to_have_url(re.compile(rf"{path}/?$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{app_url}{path}")
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_a_new_tab_is_already_signed_in(open_page, app_url):
    page = open_page("teacher")
    other = page.context.new_page()
    other.goto(f"{app_url}/")
    expect(other).to_have_url(re.compile(r"/profiles/?$"))
