"""Rosters and one-time links: a class list in, accounts and invite links out; invites and
password resets accepted once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr
from sqlalchemy import select

from api.accounts.models import AccountLink, LinkPurpose, Role, User
from api.classes.models import Enrollment
from api.db.base import utcnow
from tests.accounts.conftest import graphql_to
from tests.factories.accounts import PASSWORD, make_user
from tests.factories.world import make_world

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
IMPORT = """mutation($section: ID!, $csv: String!) {
  importRoster(input: {sectionId: $section, csv: $csv}) {
    created enrolled rejected
    rows { line email name status message inviteUrl inviteExpiresAt emailed user { id role } }
  } }"""
LINK = """query($t: String!) { accountLink(token: $t) { purpose name email expiresAt } }"""
ACCEPT = """mutation($t: String!, $p: String!) {
  acceptAccountLink(input: {token: $t, password: $p}) { token user { email role } } }"""
RESET = """mutation($id: ID!) {
  issuePasswordReset(userId: $id) { url purpose expiresAt emailed user { id } } }"""
NEW_PASSWORD = "tidepools and sea glass"


def tag() -> str:
    return secrets.token_hex(4)


def token_of(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/set-password"
    return parse_qs(parts.query)["token"][0]


async def log_in(gql, email: str, password: str = PASSWORD) -> str:
    return (await gql.ok(LOGIN, {"e": email, "p": password}))["login"]["token"]


async def read(db, stmt):
    value = await db.scalar(stmt)
    await db.commit()
    return value


async def enrolled(db, section_id, user_id) -> bool:
    found = await read(
        db,
        select(Enrollment.id).where(
            Enrollment.section_id == section_id, Enrollment.student_id == user_id
        ),
    )
    return found is not None


async def test_a_roster_creates_accounts_enrols_existing_ones_and_reports_bad_rows(
    db, settings, gql
):
    world = await make_world(db, settings)
    existing = await make_user(db, name="Already Here")
    other_teacher = await make_user(db, Role.TEACHER)
    t = tag()
    csv = (
        "Name,Email\n"
        f"Ada Lovelace,ada-{t}@school.test\n"
        f'"Hopper, Grace", GRACE-{t}@School.Test \n'
        "\n"
        f"Not An Email,not-an-email-{t}\n"
        f"Ada Again,ADA-{t}@school.test\n"
        f"Someone,{existing.email}\n"
        f"{world.student.name},{world.student.email}\n"
        f"A Teacher,{other_teacher.email}\n"
        f",nameless-{t}@school.test\n"
    )
    teacher = await log_in(gql, world.teacher.email)
    result = (await gql.ok(IMPORT, {"section": str(world.section.id), "csv": csv}, teacher))[
        "importRoster"
    ]
    rows = {row["line"]: row for row in result["rows"]}
    assert (result["created"], result["enrolled"], result["rejected"]) == (2, 1, 4)
    assert [rows[n]["status"] for n in sorted(rows)] == [
        "CREATED",
        "CREATED",
        "REJECTED",
        "REJECTED",
        "ENROLLED",
        "ALREADY_ENROLLED",
        "REJECTED",
        "REJECTED",
    ]
    assert rows[3]["email"] == f"grace-{t}@school.test" and rows[3]["name"] == "Hopper, Grace"
    assert rows[5]["message"] == "Not an email address."
    assert rows[6]["message"] == "The same email as line 2."
    assert "teacher's account" in rows[9]["message"]
    assert "name is needed" in rows[10]["message"]
    # Links only for the new accounts, which are students without a password.
    assert [n for n in sorted(rows) if rows[n]["inviteUrl"]] == [2, 3]
    assert not any(row["emailed"] for row in result["rows"])  # no SMTP here: copy the links
    ada = await read(db, select(User).where(User.email == f"ada-{t}@school.test"))
    assert (ada.role, ada.password_hash) == (Role.STUDENT, "")
    for user_id in (ada.id, existing.id):
        assert await enrolled(db, world.section.id, user_id)
    assert not await enrolled(db, world.section.id, other_teacher.id)
    # No password yet: nobody can sign in as Ada, not even with an empty one.
    for guess in ("", "not-a-real-password"):
        error = await gql.error(LOGIN, {"e": ada.email, "p": guess})
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_invite_sets_the_password_once_and_then_the_student_signs_in(db, settings, gql):
    world = await make_world(db, settings)
    email = f"lin-{tag()}@school.test"
    teacher = await log_in(gql, world.teacher.email)
    data = await gql.ok(
        IMPORT, {"section": str(world.section.id), "csv": f"{email},Lin Wei"}, teacher
    )
    [row] = data["importRoster"]["rows"]
    secret = token_of(row["inviteUrl"])

    # Stored hashed: the database never holds the secret.
    stored = await read(
        db,
        select(AccountLink).where(
            AccountLink.user_id.in_(select(User.id).where(User.email == email))
        ),
    )
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.purpose is LinkPurpose.INVITE
    days = (stored.expires_at - stored.created_at).total_seconds() / 86400
    assert round(days) == settings.invite_days

    info = (await gql.ok(LINK, {"t": secret}))["accountLink"]
    assert (info["purpose"], info["name"], info["email"]) == ("INVITE", "Lin Wei", email)

    weak = await gql.error(ACCEPT, {"t": secret, "p": "short"})
    assert weak["extensions"]["fields"][0]["field"] == "password"
    accepted = (await gql.ok(ACCEPT, {"t": secret, "p": NEW_PASSWORD}))["acceptAccountLink"]
    assert accepted["user"] == {"email": email, "role": "STUDENT"}
    practice = await gql.ok("{ assignments { nodes { id } } }", token=accepted["token"])
    assert practice["assignments"]["nodes"] == [{"id": str(world.assignment.id)}]
    assert "errors" not in await gql(LOGIN, {"e": email, "p": NEW_PASSWORD})

    # Single use: the link now answers like one that never existed.
    for query, variables in (
        (LINK, {"t": secret}),
        (ACCEPT, {"t": secret, "p": "another one 123"}),
    ):
        used = await gql.error(query, variables)
        unknown = await gql.error(query, {**variables, "t": secrets.token_urlsafe(32)})
        assert used["extensions"]["code"] == unknown["extensions"]["code"] == "NOT_FOUND"
        assert used["message"] == unknown["message"]


async def test_an_expired_or_replaced_invite_no_longer_works(db, settings, gql):
    world = await make_world(db, settings)
    email = f"sam-{tag()}@school.test"
    teacher = await log_in(gql, world.teacher.email)
    variables = {"section": str(world.section.id), "csv": f"{email},Sam Ortiz"}
    first = token_of(
        (await gql.ok(IMPORT, variables, teacher))["importRoster"]["rows"][0]["inviteUrl"]
    )
    # Importing again (the invite got lost) gives a new link and ends the first.
    again = (await gql.ok(IMPORT, variables, teacher))["importRoster"]["rows"][0]
    assert again["status"] == "ALREADY_ENROLLED"
    second = token_of(again["inviteUrl"])
    assert (await gql.error(LINK, {"t": first}))["extensions"]["code"] == "NOT_FOUND"
    assert (await gql.ok(LINK, {"t": second}))["accountLink"]["email"] == email

    link = await db.scalar(
        select(AccountLink).where(
            AccountLink.secret_hash == hashlib.sha256(second.encode()).hexdigest()
        )
    )
    link.expires_at = utcnow() - timedelta(seconds=1)
    await db.commit()
    error = await gql.error(ACCEPT, {"t": second, "p": NEW_PASSWORD})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_invites_are_emailed_when_smtp_is_set(db, settings, open_app, smtp_server):
    app = open_app(smtp_url=SecretStr(smtp_server.url), public_url="https://practicum.school.test/")
    world = await make_world(db, settings)
    t = tag()
    csv = f"email,name\nkim-{t}@school.test,Kim Park\nlee-{t}@school.test,Lee Chan\n"
    async with graphql_to(app) as gql:
        teacher = await log_in(gql, world.teacher.email)
        data = await gql.ok(IMPORT, {"section": str(world.section.id), "csv": csv}, teacher)
        rows = data["importRoster"]["rows"]
        assert [row["emailed"] for row in rows] == [True, True]
        for row in rows:
            [letter] = smtp_server.to(row["email"])
            body = letter.get_payload(decode=True).decode()
            assert row["inviteUrl"].startswith("https://practicum.school.test/set-password?token=")
            assert row["inviteUrl"] in body
            assert world.section.name in body and row["name"] in body
            assert letter["Subject"] == "You are invited to Practicum"
        # The emailed link works.
        accepted = await gql.ok(ACCEPT, {"t": token_of(rows[0]["inviteUrl"]), "p": NEW_PASSWORD})
        assert accepted["acceptAccountLink"]["user"]["email"] == f"kim-{t}@school.test"


async def test_an_unreachable_smtp_server_leaves_the_links_to_copy(db, settings, open_app):
    from tests.transport.conftest import free_port

    app = open_app(smtp_url=SecretStr(f"smtp://127.0.0.1:{free_port()}"), smtp_timeout_seconds=2)
    world = await make_world(db, settings)
    email = f"ray-{tag()}@school.test"
    async with graphql_to(app) as gql:
        teacher = await log_in(gql, world.teacher.email)
        data = await gql.ok(
            IMPORT, {"section": str(world.section.id), "csv": f"{email},Ray"}, teacher
        )
        [row] = data["importRoster"]["rows"]
        assert row["status"] == "CREATED" and row["emailed"] is False
        assert (await gql.ok(LINK, {"t": token_of(row["inviteUrl"])}))["accountLink"][
            "email"
        ] == email


async def test_an_admins_reset_link_sets_a_new_password_and_ends_other_logins(db, settings, gql):
    admin = await make_user(db, Role.ADMIN)
    student = await make_user(db)
    admin_token = await log_in(gql, admin.email)
    phone = await log_in(gql, student.email)

    link = (await gql.ok(RESET, {"id": str(student.id)}, admin_token))["issuePasswordReset"]
    assert (link["purpose"], link["emailed"]) == ("PASSWORD_RESET", False)
    secret = token_of(link["url"])
    hours = (
        await read(db, select(AccountLink.expires_at).where(AccountLink.user_id == student.id))
    ) - utcnow()
    assert (
        timedelta(hours=settings.password_reset_hours - 1)
        < hours
        <= timedelta(hours=settings.password_reset_hours)
    )
    assert (await gql.ok(LINK, {"t": secret}))["accountLink"]["purpose"] == "PASSWORD_RESET"
    # Until it is used, the old password still works.
    assert "errors" not in await gql("{ me { id } }", token=phone)

    accepted = (await gql.ok(ACCEPT, {"t": secret, "p": NEW_PASSWORD}))["acceptAccountLink"]
    assert (await gql.error("{ me { id } }", token=phone))["extensions"][
        "code"
    ] == "UNAUTHENTICATED"
    assert "errors" not in await gql("{ me { id } }", token=accepted["token"])
    assert (await gql.error(LOGIN, {"e": student.email, "p": PASSWORD}))["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )
    assert "errors" not in await gql(LOGIN, {"e": student.email, "p": NEW_PASSWORD})
    assert (await gql.error(ACCEPT, {"t": secret, "p": "yet another one"}))["extensions"][
        "code"
    ] == "NOT_FOUND"


async def test_a_reset_link_is_emailed_when_smtp_is_set(db, open_app, smtp_server):
    app = open_app(smtp_url=SecretStr(smtp_server.url))
    admin, student = await make_user(db, Role.ADMIN), await make_user(db)
    async with graphql_to(app) as gql:
        link = (await gql.ok(RESET, {"id": str(student.id)}, await log_in(gql, admin.email)))[
            "issuePasswordReset"
        ]
    assert link["emailed"] is True
    [letter] = smtp_server.to(student.email)
    assert link["url"] in letter.get_payload(decode=True).decode()


async def test_a_deactivated_accounts_links_do_not_work(db, settings, gql):
    admin, student = await make_user(db, Role.ADMIN), await make_user(db)
    link = await gql.ok(RESET, {"id": str(student.id)}, await log_in(gql, admin.email))
    secret = token_of(link["issuePasswordReset"]["url"])
    student.active = False
    await db.commit()
    assert (await gql.error(ACCEPT, {"t": secret, "p": NEW_PASSWORD}))["extensions"]["code"] == (
        "NOT_FOUND"
    )


AUDIT = """query($actor: ID!) { auditLog(filter: {actorId: $actor}, first: 50) {
  nodes { action targetKind targetId details address } } }"""


async def test_roster_imports_invites_and_resets_are_in_the_audit_log(db, settings, gql):
    world = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    admin_token = await log_in(gql, admin.email)
    email = f"jo-{tag()}@school.test"
    csv = f"{email},Jo March\n{world.student.email},{world.student.name}\nnot-an-email,X\n"
    data = await gql.ok(IMPORT, {"section": str(world.section.id), "csv": csv}, admin_token)
    new_id = data["importRoster"]["rows"][0]["user"]["id"]
    await gql.ok(RESET, {"id": str(world.student.id)}, admin_token)

    log = (await gql.ok(AUDIT, {"actor": str(admin.id)}, admin_token))["auditLog"]["nodes"]
    assert [(e["action"], e["targetKind"], e["targetId"]) for e in log] == [
        ("user.password_reset_link", "user", str(world.student.id)),
        ("user.invite", "user", new_id),
        ("section.roster_import", "section", str(world.section.id)),
    ]
    imported = log[2]["details"]
    assert (imported["created"], imported["already_enrolled"], imported["rejected"]) == (1, 1, 1)
    text = str(log)
    assert email not in text and "token=" not in text  # no emails or link secrets in the log
    assert {e["address"] for e in log} == {"127.0.0.1"}
