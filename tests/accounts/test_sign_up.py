"""Sign-up with a join code: a student makes an account and lands in the section."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from api.accounts.models import Role, User
from api.accounts.passwords import common_passwords
from api.classes.models import Enrollment
from tests.accounts.conftest import an_address, graphql_to
from tests.factories.accounts import PASSWORD, make_user
from tests.factories.world import make_world

SIGN_UP = """
mutation($name: String!, $email: String!, $password: String!, $code: String!) {
  signUp(input: {name: $name, email: $email, password: $password, joinCode: $code}) { message }
}
"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
PRACTICE_LIST = """
{ me { role } sections { nodes { id name } } assignments { nodes { id title } } }
"""
GOOD_PASSWORD = "a quiet river at dawn"


def new_email() -> str:
    return f"new-{secrets.token_hex(4)}@school.test"


def sign_up_vars(code: str, email: str | None = None, password: str = GOOD_PASSWORD, **more):
    return {
        "name": "Nia Brooks",
        "email": email or new_email(),
        "password": password,
        "code": code,
        **more,
    }


async def read(db, stmt):
    value = await db.scalar(stmt)
    await db.commit()
    return value


async def test_a_student_signs_up_with_a_code_and_lands_in_the_sections_practice_list(
    db, settings, gql
):
    world = await make_world(db, settings)
    email = new_email()
    # The code as a person may type it: lower case, with a dash.
    code = world.section.join_code.lower()[:4] + "-" + world.section.join_code.lower()[4:]
    data = await gql.ok(SIGN_UP, sign_up_vars(code, email.upper()))
    assert "sign in" in data["signUp"]["message"]

    token = (await gql.ok(LOGIN, {"e": email, "p": GOOD_PASSWORD}))["login"]["token"]
    practice = await gql.ok(PRACTICE_LIST, token=token)
    assert practice["me"]["role"] == "STUDENT"
    assert [s["id"] for s in practice["sections"]["nodes"]] == [str(world.section.id)]
    assert [a["id"] for a in practice["assignments"]["nodes"]] == [str(world.assignment.id)]


async def test_a_taken_email_gets_the_same_answer_and_its_account_is_untouched(db, settings, gql):
    world = await make_world(db, settings)
    other = await make_world(db, settings)
    owner = await make_user(db, name="Original Owner")
    before = (owner.name, owner.password_hash, owner.token_generation)

    new = await gql.ok(SIGN_UP, sign_up_vars(world.section.join_code))
    taken = await gql.ok(SIGN_UP, sign_up_vars(other.section.join_code, owner.email.upper()))

    assert taken == new
    await db.refresh(owner)
    assert (owner.name, owner.password_hash, owner.token_generation) == before
    enrolled = await read(
        db, select(func.count()).select_from(Enrollment).where(Enrollment.student_id == owner.id)
    )
    assert enrolled == 0
    # The owner's password still works; the one typed at sign-up does not.
    assert "errors" not in await gql(LOGIN, {"e": owner.email, "p": PASSWORD})
    refused = await gql.error(LOGIN, {"e": owner.email, "p": GOOD_PASSWORD})
    assert refused["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_wrong_code_a_short_or_common_password_and_a_bad_email_are_all_reported(
    db, settings, gql
):
    common = sorted(common_passwords())[0]
    error = await gql.error(SIGN_UP, sign_up_vars("NOPE-NOPE", "not an email", "short"))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    fields = {f["field"]: f["message"] for f in error["extensions"]["fields"]}
    assert set(fields) == {"email", "password", "joinCode"}
    assert "at least 10 characters" in fields["password"]

    world = await make_world(db, settings)
    for password in (common, common.upper(), "password123", "qwertyuiop"):
        error = await gql.error(SIGN_UP, sign_up_vars(world.section.join_code, None, password))
        fields = {f["field"]: f["message"] for f in error["extensions"]["fields"]}
        assert list(fields) == ["password"] and "too common" in fields["password"], password
    users = await read(
        db,
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.section_id == world.section.id),
    )
    assert users == 1  # only the world's own student


async def test_a_section_can_close_sign_up_and_its_code_still_enrols_existing_students(
    db, settings, gql
):
    world = await make_world(db, settings)
    close = """mutation($id: ID!, $open: Boolean!) {
      setSectionSignUp(sectionId: $id, open: $open) { section { signUpOpen } } }"""
    teacher = (await gql.ok(LOGIN, {"e": world.teacher.email, "p": PASSWORD}))["login"]["token"]
    data = await gql.ok(close, {"id": str(world.section.id), "open": False}, teacher)
    assert data["setSectionSignUp"]["section"]["signUpOpen"] is False

    email = new_email()
    error = await gql.error(SIGN_UP, sign_up_vars(world.section.join_code, email))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["fields"][0]["field"] == "joinCode"
    assert "does not take new sign-ups" in error["message"]
    assert await read(db, select(User.id).where(User.email == email)) is None

    # A student with an account still joins with the code.
    student = await make_user(db)
    token = (await gql.ok(LOGIN, {"e": student.email, "p": PASSWORD}))["login"]["token"]
    join = "mutation($c: String!) { joinSection(joinCode: $c) { section { id } } }"
    joined = await gql.ok(join, {"c": world.section.join_code}, token)
    assert joined["joinSection"]["section"]["id"] == str(world.section.id)

    await gql.ok(close, {"id": str(world.section.id), "open": True}, teacher)
    assert "errors" not in await gql(SIGN_UP, sign_up_vars(world.section.join_code, email))
    assert await read(db, select(User.role).where(User.email == email)) is Role.STUDENT


async def test_the_instance_can_turn_self_sign_up_off(db, settings, open_app):
    app = open_app(self_signup=False)
    world = await make_world(db, settings)
    email = new_email()
    async with graphql_to(app) as gql:
        assert (await gql.ok("{ signUpAvailable }"))["signUpAvailable"] is False
        error = await gql.error(SIGN_UP, sign_up_vars(world.section.join_code, email))
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "turned off" in error["message"]
    assert await read(db, select(User.id).where(User.email == email)) is None


async def test_sign_up_is_rate_limited_per_address(db, settings, open_app):
    app = open_app(rate_limit_signups_per_ip="2/minute")
    world = await make_world(db, settings)
    code = world.section.join_code
    here, elsewhere = an_address(), an_address()
    async with graphql_to(app, here) as gql:
        assert "errors" not in await gql(SIGN_UP, sign_up_vars(code))
        bad = await gql.error(SIGN_UP, sign_up_vars(code, "bad email"))  # counts too
        assert bad["extensions"]["code"] == "BAD_USER_INPUT"
        email = new_email()
        limited = await gql.error(SIGN_UP, sign_up_vars(code, email))
        assert limited["extensions"]["code"] == "RATE_LIMITED"
        assert limited["extensions"]["retryAfter"] > 0
        assert await read(db, select(User.id).where(User.email == email)) is None
    async with graphql_to(app, elsewhere) as gql:
        assert "errors" not in await gql(SIGN_UP, sign_up_vars(code, email))
