"""The account operations (sign-up, signing out, passwords, links, rosters) with API keys of
each scope: a key is no person, so it never signs in or out or has a password; a full
admin key may do the admin's part (rosters, reset links); narrowed keys may do none."""

from __future__ import annotations

import json

import pytest

from tests.api.test_authorization import ALLOWED, FORBIDDEN, KEYS, Case, codes, private_to_a
from tests.api.test_authorization_accounts import OPERATIONS, account_snapshot, build

OK, FORBID = ALLOWED, FORBIDDEN

# fmt: off
KEY_EXPECTED: dict[str, tuple[str, ...]] = {
    #                       key_full key_usage key_section
    "signUpAvailable":      (OK,      FORBID,   FORBID),
    "accountLink":          (OK,      FORBID,   FORBID),
    "signUp":               (FORBID,  FORBID,   FORBID),
    "acceptAccountLink":    (FORBID,  FORBID,   FORBID),
    "signOut":              (FORBID,  FORBID,   FORBID),
    "signOutEverywhere":    (FORBID,  FORBID,   FORBID),
    "changePassword":       (FORBID,  FORBID,   FORBID),
    "setSectionSignUp":     (OK,      FORBID,   FORBID),
    "importRoster":         (OK,      FORBID,   FORBID),
    "issuePasswordReset":   (OK,      FORBID,   FORBID),
}
# fmt: on
assert KEY_EXPECTED.keys() == OPERATIONS.keys()


@pytest.mark.parametrize(
    ("name", "role", "outcome"),
    [
        pytest.param(name, role, outcome, id=f"{name}-{role}-{outcome.lower()}")
        for name, outcomes in KEY_EXPECTED.items()
        for role, outcome in zip(KEYS, outcomes, strict=True)
    ],
)
async def test_api_key_against_account_operations(db, settings, gql, name, role, outcome):
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
