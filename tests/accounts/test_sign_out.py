"""Signing out ends the token on the server; signing out everywhere and a new password end
every login of the account."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.accounts.models import EndedLogin
from api.accounts.security import issue_token, read_token
from tests.factories.accounts import PASSWORD, actor, make_user

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
ME = "{ me { id } }"
SIGN_OUT = "mutation { signOut { signedOut } }"
EVERYWHERE = "mutation { signOutEverywhere { signedOut } }"
CHANGE = """mutation($current: String!, $new: String!) {
  changePassword(input: {currentPassword: $current, newPassword: $new}) { token user { id } } }"""
NEW_PASSWORD = "lanterns over the harbour"


async def log_in(gql, email: str, password: str = PASSWORD) -> str:
    return (await gql.ok(LOGIN, {"e": email, "p": password}))["login"]["token"]


async def refusal(gql, token: str) -> str:
    error = await gql.error(ME, token=token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    return error["message"]


async def test_signing_out_ends_that_token_on_the_server_and_no_other(db, gql, settings):
    user = await make_user(db)
    laptop, phone = await log_in(gql, user.email), await log_in(gql, user.email)

    assert (await gql.ok(SIGN_OUT, token=laptop))["signOut"]["signedOut"] is True

    # The token itself is still signed and unexpired: only the server knows it ended.
    assert read_token(laptop, settings.signing_secret()).user_id == user.id
    assert "signed out" in await refusal(gql, laptop)
    assert (await gql.ok(ME, token=phone))["me"]["id"] == str(user.id)
    login_id = read_token(laptop, settings.signing_secret()).login_id
    assert await db.scalar(select(EndedLogin.user_id).where(EndedLogin.id == login_id)) == user.id
    await db.commit()


async def test_signing_out_everywhere_ends_every_token_of_the_account(db, gql, settings):
    user, someone_else = await make_user(db), await make_user(db)
    laptop, phone = await log_in(gql, user.email), await log_in(gql, user.email)
    older, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    theirs = await log_in(gql, someone_else.email)

    await gql.ok(EVERYWHERE, token=phone)

    for token in (laptop, phone, older):
        assert "signed out everywhere" in await refusal(gql, token)
    assert "errors" not in await gql(ME, token=theirs)
    # Signing in again works, with a token that lives.
    assert "errors" not in await gql(ME, token=await log_in(gql, user.email))


async def test_a_token_without_a_login_id_signs_out_like_everywhere(db, gql, settings):
    user = await make_user(db)
    older, _ = issue_token(actor(user), settings.signing_secret(), timedelta(hours=1))
    await gql.ok(SIGN_OUT, token=older)
    assert "ended" in await refusal(gql, older)


async def test_changing_the_password_needs_the_current_one_and_ends_the_other_logins(
    db, gql, settings
):
    user = await make_user(db)
    laptop, phone = await log_in(gql, user.email), await log_in(gql, user.email)

    wrong = await gql.error(CHANGE, {"current": "not my password", "new": NEW_PASSWORD}, laptop)
    assert wrong["extensions"]["code"] == "BAD_USER_INPUT"
    assert wrong["extensions"]["fields"][0]["field"] == "currentPassword"
    weak = await gql.error(CHANGE, {"current": PASSWORD, "new": "password1234"}, laptop)
    assert weak["extensions"]["fields"][0]["field"] == "newPassword"
    assert "errors" not in await gql(ME, token=phone)  # refused changes end nothing

    changed = await gql.ok(CHANGE, {"current": PASSWORD, "new": NEW_PASSWORD}, laptop)
    fresh = changed["changePassword"]["token"]
    assert changed["changePassword"]["user"]["id"] == str(user.id)

    for token in (laptop, phone):
        await refusal(gql, token)
    assert "errors" not in await gql(ME, token=fresh)
    old = await gql.error(LOGIN, {"e": user.email, "p": PASSWORD})
    assert old["extensions"]["code"] == "UNAUTHENTICATED"
    assert "errors" not in await gql(ME, token=await log_in(gql, user.email, NEW_PASSWORD))


async def test_signing_out_needs_a_live_login(gql):
    error = await gql.error(SIGN_OUT)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
