"""The authorisation matrix (tests/api/test_authorization.py) for the account operations:
sign-up, signing out, passwords, one-time links, section sign-up and roster imports. The
same worlds, roles and rules: the exact outcome per role, nothing private to world A in a
refusal, a refused operation changes nothing, and a hidden object answers like a missing
one."""

from __future__ import annotations

import json
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from api.accounts import invites
from api.accounts.models import AccountLink, LinkPurpose, User
from api.classes.models import Enrollment, Section
from tests.api.test_authorization import (
    ALLOWED,
    FORBIDDEN,
    NOT_FOUND,
    ROLES,
    UNAUTHENTICATED,
    Case,
    Matrix,
    Operation,
    build_matrix,
    codes,
    private_to_a,
    rows,
    scalar,
    snapshot,
)
from tests.factories.accounts import PASSWORD

NEW_PASSWORD = "a long walk by the canal"


async def account_snapshot(db, m: Matrix) -> dict:
    state = await snapshot(db, m)
    state["a_section_signup"] = await scalar(
        db, select(Section.signup_open).where(Section.id == m.a.section.id)
    )
    state["links"] = await scalar(db, select(func.count()).select_from(AccountLink))
    state["generations"] = await rows(
        db, select(User.id, User.token_generation, User.password_hash).order_by(User.id)
    )
    return state


async def me_refused(case: Case, token: str | None) -> None:
    error = await case.gql.error("{ me { id } }", token=token)
    assert error["extensions"]["code"] == UNAUTHENTICATED


async def check_sign_up(case: Case) -> None:
    assert "sign in" in case.data["signUp"]["message"]
    user_id = await scalar(case.db, select(User.id).where(User.email == case.m.new_email))
    enrolled = await scalar(
        case.db,
        select(Enrollment.id).where(
            Enrollment.section_id == case.m.a.section.id, Enrollment.student_id == user_id
        ),
    )
    assert enrolled is not None


async def check_sign_up_available(case: Case) -> None:
    assert case.data["signUpAvailable"] is True


async def check_sign_out(case: Case) -> None:
    assert case.data["signOut"]["signedOut"] is True
    await me_refused(case, case.token)


async def check_sign_out_everywhere(case: Case) -> None:
    assert case.data["signOutEverywhere"]["signedOut"] is True
    await me_refused(case, case.token)


async def check_change_password(case: Case) -> None:
    fresh = case.data["changePassword"]["token"]
    assert (await case.gql.ok("{ me { id } }", token=fresh))["me"]["id"] == str(case.user.id)
    await me_refused(case, case.token)


async def check_set_section_sign_up(case: Case) -> None:
    assert case.data["setSectionSignUp"]["section"]["signUpOpen"] is False
    stored = await scalar(
        case.db, select(Section.signup_open).where(Section.id == case.m.a.section.id)
    )
    assert stored is False


async def check_import_roster(case: Case) -> None:
    payload = case.data["importRoster"]
    assert payload["created"] == 1
    [row] = payload["rows"]
    assert row["status"] == "CREATED" and row["inviteUrl"]


async def check_issue_password_reset(case: Case) -> None:
    link = case.data["issuePasswordReset"]
    assert link["purpose"] == "PASSWORD_RESET"
    assert link["user"]["id"] == str(case.m.a.student.id)


async def check_account_link(case: Case) -> None:
    assert case.data["accountLink"]["email"] == case.m.a.student.email


async def check_accept_account_link(case: Case) -> None:
    assert case.data["acceptAccountLink"]["user"]["id"] == str(case.m.a.student.id)


def a_link_token(m: Matrix) -> str:
    return m.a_link_token


OK, UNAUTH, FORBID, NF = ALLOWED, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND

# fmt: off
EXPECTED: dict[str, tuple[str, ...]] = {
    #                       student other_student teacher other_teacher admin   anonymous
    "signUpAvailable":      (OK,     OK,           OK,     OK,           OK,     OK),
    "accountLink":          (OK,     OK,           OK,     OK,           OK,     OK),
    "signUp":               (OK,     OK,           OK,     OK,           OK,     OK),
    "acceptAccountLink":    (OK,     OK,           OK,     OK,           OK,     OK),
    "signOut":              (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "signOutEverywhere":    (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "changePassword":       (OK,     OK,           OK,     OK,           OK,     UNAUTH),
    "setSectionSignUp":     (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "importRoster":         (FORBID, FORBID,       OK,     NF,           OK,     UNAUTH),
    "issuePasswordReset":   (FORBID, FORBID,       FORBID, FORBID,       OK,     UNAUTH),
}
# fmt: on

OPERATIONS: dict[str, Operation] = {
    "signUpAvailable": Operation("{ signUpAvailable }", lambda m: {}, check_sign_up_available),
    "accountLink": Operation(
        "query($t: String!) { accountLink(token: $t) { purpose email } }",
        lambda m: {"t": m.a_link_token},
        check_account_link,
    ),
    "signUp": Operation(
        """mutation($e: String!, $c: String!) { signUp(input: {name: "New Student", email: $e,
             password: "a long walk by the canal", joinCode: $c}) { message } }""",
        lambda m: {"e": m.new_email, "c": m.a.section.join_code},
        check_sign_up,
        mutation=True,
    ),
    "acceptAccountLink": Operation(
        """mutation($t: String!) { acceptAccountLink(input: {token: $t,
             password: "a long walk by the canal"}) { token user { id } } }""",
        lambda m: {"t": m.a_link_token},
        check_accept_account_link,
        mutation=True,
    ),
    "signOut": Operation(
        "mutation { signOut { signedOut } }", lambda m: {}, check_sign_out, mutation=True
    ),
    "signOutEverywhere": Operation(
        "mutation { signOutEverywhere { signedOut } }",
        lambda m: {},
        check_sign_out_everywhere,
        mutation=True,
    ),
    "changePassword": Operation(
        """mutation($c: String!, $n: String!) {
             changePassword(input: {currentPassword: $c, newPassword: $n}) { token } }""",
        lambda m: {"c": PASSWORD, "n": NEW_PASSWORD},
        check_change_password,
        mutation=True,
    ),
    "setSectionSignUp": Operation(
        """mutation($id: ID!) { setSectionSignUp(sectionId: $id, open: false)
             { section { id signUpOpen } } }""",
        lambda m: {"id": str(m.a.section.id)},
        check_set_section_sign_up,
        mutation=True,
    ),
    "importRoster": Operation(
        """mutation($id: ID!, $csv: String!) { importRoster(input: {sectionId: $id, csv: $csv})
             { created rows { status inviteUrl } } }""",
        lambda m: {"id": str(m.a.section.id), "csv": f"{m.new_email},Newly Listed"},
        check_import_roster,
        mutation=True,
    ),
    "issuePasswordReset": Operation(
        """mutation($id: ID!) { issuePasswordReset(userId: $id)
             { url purpose user { id } } }""",
        lambda m: {"id": str(m.a.student.id)},
        check_issue_password_reset,
        mutation=True,
    ),
}
assert OPERATIONS.keys() == EXPECTED.keys()

CASES = [
    pytest.param(name, role, outcome, id=f"{name}-{role}-{outcome.lower()}")
    for name, outcomes in EXPECTED.items()
    for role, outcome in zip(ROLES, outcomes, strict=True)
]


async def build(db, settings) -> Matrix:
    m = await build_matrix(db, settings)
    m.new_email = f"listed-{secrets.token_hex(4)}@school.test"
    # An invite for A's student (as an admin's roster import would make), to accept.
    link = await invites.issue_link(db, settings, m.a.student, LinkPurpose.INVITE, m.admin.id)
    await db.commit()
    m.a_link_token = parse_qs(urlsplit(link.url).query)["token"][0]
    return m


@pytest.mark.parametrize(("name", "role", "outcome"), CASES)
async def test_role_against_account_operations(db, settings, gql, name, role, outcome):
    m = await build(db, settings)
    operation = OPERATIONS[name]
    before = await account_snapshot(db, m)

    body = await gql(operation.document, operation.variables(m), m.tokens[role])

    if outcome == ALLOWED:
        assert "errors" not in body, body["errors"]
        await operation.check(Case(m=m, role=role, data=body["data"], db=db, gql=gql))
    else:
        assert codes(body) == [outcome], body
        assert not (body.get("data") or {}).get(name), body["data"]
        text = json.dumps(body)
        leaked = [secret for secret in [*private_to_a(m), m.a_link_token] if secret in text]
        assert not leaked, f"{role} read {leaked} through a refused {name}"
    if not operation.mutation or outcome != ALLOWED:
        assert await account_snapshot(db, m) == before, f"{name} as {role} changed the database"


PROBES = {
    "setSectionSignUp": "mutation($id: ID!) { setSectionSignUp(sectionId: $id, open: false) "
    "{ section { id } } }",
    "importRoster": 'mutation($id: ID!) { importRoster(input: {sectionId: $id, csv: "x@y.test,X"})'
    " { created } }",
}


@pytest.mark.parametrize("name", PROBES)
async def test_another_teachers_section_answers_like_a_missing_one(db, settings, gql, name):
    m = await build(db, settings)
    before = await account_snapshot(db, m)

    async def error_for(section_id: uuid.UUID) -> dict:
        error = await gql.error(PROBES[name], {"id": str(section_id)}, m.tokens["other_teacher"])
        said = json.dumps({"message": error["message"], "extensions": error["extensions"]})
        return json.loads(said.replace(str(section_id), "<the id sent>"))

    assert await error_for(m.a.section.id) == await error_for(uuid.uuid4())
    assert await account_snapshot(db, m) == before


async def test_a_missing_users_reset_answers_not_found(db, settings, gql):
    m = await build(db, settings)
    error = await gql.error(
        "mutation($id: ID!) { issuePasswordReset(userId: $id) { url } }",
        {"id": str(uuid.uuid4())},
        m.tokens["admin"],
    )
    assert error["extensions"]["code"] == NOT_FOUND
