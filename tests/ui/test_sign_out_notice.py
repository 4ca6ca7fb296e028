"""The sign-in page says why the user is there, even when the page they were leaving
still runs its guard after they signed out (a quick click on Sign out just after signing
in: the start page's on_load runs after `logout`, and first puts back the token it read
from the cookie before the sign-out, which the API now refuses)."""

import asyncio

from ui.state.base import AppState
from ui.state.login import LoginState


def _states() -> tuple[AppState, LoginState]:
    root = AppState.get_root_state()(_reflex_internal_init=True)
    app = asyncio.run(root.get_state(AppState))
    login = asyncio.run(root.get_state(LoginState))
    return app, login


def test_signing_out_as_the_start_page_loads_still_says_you_have_signed_out():
    app, login = _states()
    app.user_role, app.user_name = "STUDENT", "Sam Student"  # token already ended

    asyncio.run(AppState.logout.fn(app))
    asyncio.run(AppState.require_role.fn(app, ["STUDENT"]))  # the start page's guard, late
    asyncio.run(LoginState.open.fn(login))

    assert login.message == "You have signed out."


def test_a_page_that_puts_back_the_ended_token_still_says_you_have_signed_out():
    app, login = _states()
    app.user_role, app.user_name = "STUDENT", "Sam Student"

    asyncio.run(AppState.logout.fn(app))
    app.token = "the ended token"  # the opening page's cookie, read before Sign out
    asyncio.run(AppState.require_role.fn(app, ["STUDENT"]))  # the API refuses it
    asyncio.run(LoginState.open.fn(login))

    assert login.message == "You have signed out."
    assert app.token == ""


def test_an_ended_token_with_nothing_pending_says_the_sign_in_expired():
    app, login = _states()
    app.token = "an old token"

    asyncio.run(AppState.require_role.fn(app, ["STUDENT"]))
    asyncio.run(LoginState.open.fn(login))

    assert login.message == "Your sign-in has expired. Please sign in again."


def test_a_guard_sends_a_signed_out_visitor_to_sign_in_without_a_notice():
    app, login = _states()

    asyncio.run(AppState.require_role.fn(app, ["STUDENT"]))
    asyncio.run(LoginState.open.fn(login))

    assert login.message == ""
