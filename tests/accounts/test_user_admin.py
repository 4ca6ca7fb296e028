"""User administration as admins use it over GraphQL: list and search people, create
accounts, change roles, deactivate and reactivate, and the rule that someone must always be
left to undo a mistake (an active admin). Every change is in the audit log."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from api.accounts.models import Role, User
from api.app import create_app
from api.db.migrate import upgrade
from tests.api.test_authorization import token_for
from tests.conftest import GraphQLClient, _create_pg_database, _drop_pg_database
from tests.factories.accounts import PASSWORD, make_user
from tests.factories.classes import make_section
from tests.limits.conftest import graphql_from

USERS = """
query($filter: UserFilter, $first: Int, $after: String) {
  users(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name email role active erased }
  }
}"""
CREATE = """
mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id email name role active } }
}"""
SET_ROLE = """mutation($id: ID!, $role: Role!) {
  setUserRole(id: $id, role: $role) { user { id role } } }"""
DEACTIVATE = "mutation($id: ID!) { deactivateUser(id: $id) { user { id active } } }"
REACTIVATE = "mutation($id: ID!) { reactivateUser(id: $id) { user { id active } } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
ME = "{ me { id role } }"
AUDIT = """query($actor: ID!) { auditLog(filter: {actorId: $actor}) {
  nodes { action targetKind targetId details } } }"""


def code(error: dict) -> str:
    return error["extensions"]["code"]


async def audit_of(gql, token: str, admin: User) -> list[tuple[str, str | None, dict]]:
    data = await gql.ok(AUDIT, {"actor": str(admin.id)}, token)
    return [(e["action"], e["targetId"], e["details"]) for e in data["auditLog"]["nodes"]]


async def find(gql, token: str, **filter) -> list[dict]:
    nodes, after = [], None
    while True:
        data = await gql.ok(USERS, {"filter": filter, "first": 2, "after": after}, token)
        nodes += data["users"]["nodes"]
        if not data["users"]["pageInfo"]["hasNextPage"]:
            return nodes
        after = data["users"]["pageInfo"]["endCursor"]


async def test_admins_search_people_by_text_role_active_and_section(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    tag = secrets.token_hex(3)
    teacher = await make_user(db, Role.TEACHER, name=f"Quinn {tag} Teacher")
    alice = await make_user(db, Role.STUDENT, name=f"Alice {tag}")
    bob = await make_user(db, Role.STUDENT, name=f"Bob {tag.upper()}")
    gone = await make_user(db, Role.STUDENT, name=f"Carol {tag}", active=False)
    outsider = await make_user(db, Role.STUDENT, name=f"Dan {tag}")
    section = await make_section(db, settings, teacher, alice, bob, gone)

    by_text = await find(gql, token, text=tag)  # any case, paged by two
    assert [n["id"] for n in by_text] == [str(u.id) for u in (alice, bob, gone, outsider, teacher)]
    assert [n["id"] for n in await find(gql, token, text=alice.email.upper())] == [str(alice.id)]
    students = await find(gql, token, text=tag, role="STUDENT", active=True)
    assert {n["id"] for n in students} == {str(alice.id), str(bob.id), str(outsider.id)}
    inactive = await find(gql, token, text=tag, active=False)
    assert [n["id"] for n in inactive] == [str(gone.id)]
    in_section = await find(gql, token, sectionId=str(section.id))
    assert {n["id"] for n in in_section} == {str(u.id) for u in (teacher, alice, bob, gone)}
    # "%" and "_" are text, not patterns ("Quinn <tag> Teacher" has no "<tag>_")
    assert await find(gql, token, text=f"{tag}_") == []
    assert await find(gql, token, text=f"%{tag}") == []


async def test_api_keys_service_accounts_are_not_listed_as_people(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    name = f"Sync {secrets.token_hex(3)}"
    await gql.ok(
        "mutation($n: String!) { createApiKey(input: {name: $n, role: TEACHER}) { secret } }",
        {"n": name},
        token,
    )
    assert await find(gql, token, text=name) == []


@pytest.mark.parametrize("role", [Role.STUDENT, Role.TEACHER])
async def test_only_admins_administer_users(db, settings, gql, role):
    user = await make_user(db, role)
    other = await make_user(db, Role.STUDENT)
    token = token_for(settings, user)
    for document, variables in [
        (USERS, {}),
        (CREATE, {"input": {"email": "x@school.test", "name": "X", "role": "ADMIN"}}),
        (SET_ROLE, {"id": str(user.id), "role": "ADMIN"}),
        (DEACTIVATE, {"id": str(other.id)}),
        (REACTIVATE, {"id": str(other.id)}),
    ]:
        assert code(await gql.error(document, variables, token)) == "FORBIDDEN"
    await db.refresh(user)
    await db.refresh(other)
    assert (user.role, other.active) == (role, True)


async def test_an_admin_creates_a_teacher_who_can_sign_in(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    email = f"New.Teacher-{secrets.token_hex(3)}@School.test"
    strong = "a long enough passphrase"
    data = await gql.ok(
        CREATE,
        {"input": {"email": email, "name": "Nia Teacher", "role": "TEACHER", "password": strong}},
        token,
    )
    user = data["createUser"]["user"]
    assert (user["email"], user["role"], user["active"]) == (email.lower(), "TEACHER", True)
    login = await gql.ok(LOGIN, {"e": email, "p": strong})
    assert (await gql.ok(ME, token=login["login"]["token"]))["me"]["role"] == "TEACHER"
    assert (await audit_of(gql, token, admin))[0][:2] == ("user.create", user["id"])
    assert "email" not in str(await audit_of(gql, token, admin))  # no personal data in the log

    again = await gql.error(
        CREATE, {"input": {"email": email, "name": "X", "role": "ADMIN"}}, token
    )
    assert (code(again), again["extensions"]["field"]) == ("CONFLICT", "email")
    bad = await gql.error(
        CREATE,
        {"input": {"email": "nope", "name": "", "role": "ADMIN", "password": "short"}},
        token,
    )
    assert code(bad) == "BAD_USER_INPUT"
    assert {p["field"] for p in bad["extensions"]["fields"]} == {"email", "name", "password"}


async def test_an_account_made_without_a_password_cannot_sign_in_yet(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    email = f"admin-{secrets.token_hex(3)}@school.test"
    await gql.ok(
        CREATE,
        {"input": {"email": email, "name": "Ari Admin", "role": "ADMIN"}},
        token_for(settings, admin),
    )
    for password in ("", PASSWORD, "!"):
        error = await gql.error(LOGIN, {"e": email, "p": password})
        assert code(error) == "UNAUTHENTICATED"


async def test_a_new_role_applies_at_the_next_request(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    student = await make_user(db, Role.STUDENT)
    admin_token, student_token = token_for(settings, admin), token_for(settings, student)
    await gql.ok(SET_ROLE, {"id": str(student.id), "role": "TEACHER"}, admin_token)
    assert (await gql.ok(ME, token=student_token))["me"]["role"] == "TEACHER"
    create = """mutation { createSection(input: {name: "Promoted"}) { section { id } } }"""
    await gql.ok(create, token=student_token)  # a teacher's right, at once
    [entry] = await audit_of(gql, admin_token, admin)
    assert entry == ("user.role_change", str(student.id), {"from": "STUDENT", "to": "TEACHER"})


async def test_deactivation_ends_the_login_and_reactivation_needs_a_new_one(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    student = await make_user(db, Role.STUDENT)
    admin_token = token_for(settings, admin)
    login = await gql.ok(LOGIN, {"e": student.email, "p": PASSWORD})
    old = login["login"]["token"]
    assert (await gql.ok(ME, token=old))["me"]["id"] == str(student.id)

    done = await gql.ok(DEACTIVATE, {"id": str(student.id)}, admin_token)
    assert done["deactivateUser"]["user"]["active"] is False
    refused = await gql.error(ME, token=old)
    assert code(refused) == "UNAUTHENTICATED" and "disabled" in refused["message"]
    assert code(await gql.error(LOGIN, {"e": student.email, "p": PASSWORD})) == "UNAUTHENTICATED"

    await gql.ok(REACTIVATE, {"id": str(student.id)}, admin_token)
    assert code(await gql.error(ME, token=old)) == "UNAUTHENTICATED"  # stays ended
    new = (await gql.ok(LOGIN, {"e": student.email, "p": PASSWORD}))["login"]["token"]
    assert (await gql.ok(ME, token=new))["me"]["id"] == str(student.id)
    assert [a for a, *_ in await audit_of(gql, admin_token, admin)] == [
        "user.reactivate",
        "user.deactivate",
    ]


async def test_unknown_users_are_not_found(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)
    missing = "00000000-0000-4000-8000-000000000000"
    for document, variables in [
        (SET_ROLE, {"id": missing, "role": "ADMIN"}),
        (DEACTIVATE, {"id": missing}),
        (REACTIVATE, {"id": missing}),
        ("query($id: ID!) { user(id: $id) { id } }", {"id": missing}),
    ]:
        assert code(await gql.error(document, variables, token)) == "NOT_FOUND"


# The last active admin: on a database of this module's own, where the admins are known.


@pytest.fixture(scope="module")
async def own_database(database_url: str, tmp_path_factory) -> AsyncIterator[str]:
    if database_url.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('admins') / 'practicum.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name, url = await _create_pg_database()
    url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def alone(settings, own_database) -> AsyncIterator[tuple[GraphQLClient, object]]:
    app = create_app(settings.model_copy(update={"database_url": own_database}))
    try:
        async with graphql_from(app) as gql:
            yield gql, app.state.runtime
    finally:
        async with app.state.runtime.sessions() as db:
            for user in await db.scalars(select(User).where(User.role == Role.ADMIN)):
                user.active, user.role = False, Role.STUDENT  # the next test starts with none
            await db.commit()
        await app.state.runtime.close()


async def test_the_last_active_admin_cannot_demote_or_deactivate_themselves(alone):
    gql, runtime = alone
    async with runtime.sessions() as db:
        admin = await make_user(db, Role.ADMIN)
        api_key_admin = await make_user(db, Role.ADMIN)
        api_key_admin.service_account = True  # an API key's account is no admin to rely on
        await db.commit()
    token = token_for(runtime.settings, admin)
    for document, variables in [
        (SET_ROLE, {"id": str(admin.id), "role": "TEACHER"}),
        (DEACTIVATE, {"id": str(admin.id)}),
    ]:
        error = await gql.error(document, variables, token)
        assert code(error) == "CONFLICT" and "no active admin" in error["message"], error
    assert (await gql.ok(ME, token=token))["me"]["role"] == "ADMIN"

    # With a second admin, either may step down, but not both.
    async with runtime.sessions() as db:
        second = await make_user(db, Role.ADMIN)
    await gql.ok(SET_ROLE, {"id": str(admin.id), "role": "TEACHER"}, token)
    second_token = token_for(runtime.settings, second)
    error = await gql.error(DEACTIVATE, {"id": str(second.id)}, second_token)
    assert code(error) == "CONFLICT"
    await gql.ok(SET_ROLE, {"id": str(admin.id), "role": "ADMIN"}, second_token)
    await gql.ok(DEACTIVATE, {"id": str(second.id)}, token)
    assert code(await gql.error(ME, token=second_token)) == "UNAUTHENTICATED"
