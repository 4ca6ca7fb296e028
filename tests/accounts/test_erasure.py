"""Erasing a student on request: their name, email, what their conversations say and the
comments of their ratings are gone, the account can no longer sign in, and every figure
(usage analytics, costs, daily figures, budget spending, ratings) is exactly as before.

Turns go to the fake Anthropic server, so they cost real (tiny) amounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from api.accounts.models import Role
from api.conversations.models import Message, SessionFeedback
from tests.factories.accounts import PASSWORD
from tests.factories.budgets import (
    Practicum,
    make_practicum_fixture,  # noqa: F401
    practicum_fixture,  # noqa: F401
)
from tests.fakes.anthropic_server import fake_anthropic  # noqa: F401

MARK = uuid.uuid4().hex[:8]  # what this test's student said is found by it, and only it
SECRET_WORDS = f"My sister Jo lives at 12 Elm Street ({MARK})."
ALSO_SAID = f"And I can't sleep ({MARK})."
COMMENT = f"Felt real; reminded me of my cousin Max ({MARK})."
TOTALS = """messages modelCalls inputTokens outputTokens cacheWriteTokens cacheReadTokens
totalTokens cost cacheReadShare"""
FIGURES = f"""
query($range: DateRangeInput!) {{
  usageSummary(range: $range, includeTests: true) {{
    sessions completedSessions totals {{ {TOTALS} }}
    averageCostPerCompletedSession medianCostPerCompletedSession
  }}
  byDay: usage(range: $range, groupBy: DAY) {{ key label sessions totals {{ {TOTALS} }} }}
  byModel: usage(range: $range, groupBy: MODEL) {{ key label sessions totals {{ {TOTALS} }} }}
  bySection: usage(range: $range, groupBy: SECTION) {{ key sessions totals {{ {TOTALS} }} }}
  byClient: usage(range: $range, groupBy: CLIENT) {{ key sessions totals {{ {TOTALS} }} }}
  byStudent: usage(range: $range, groupBy: STUDENT) {{ key sessions totals {{ {TOTALS} }} }}
  dailyStats(range: $range) {{ day sessionsCreated messagesStored tokensUsed cost errors }}
  clientFeedback(range: $range) {{ clientProfileId ratings averageRating positiveShare }}
  budgets {{ id scope spentUsd limitUsd periodStart }}
}}"""
ERASE = """mutation($id: ID!) { eraseStudent(id: $id) {
  user { id name email active erased } sessions messages feedback } }"""
RATE = """mutation($s: ID!, $c: String) {
  rateSession(sessionId: $s, rating: 5, comment: $c) { feedback { rating } } }"""
END = "mutation($s: ID!) { endSession(sessionId: $s) { session { id } } }"
TRANSCRIPT = """query($id: ID!) { session(id: $id) {
  messageCount totalTokens estimatedCost student { name email }
  messages(first: 50) { nodes { role content tokenCount } } } }"""
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"


async def figures(practicum: Practicum, who) -> dict:
    today = datetime.now(UTC).date().isoformat()
    variables = {"range": {"start": today, "end": today}}
    data = await practicum.gql.ok(FIGURES, variables, practicum.token(who))
    # Buckets of students are in the order of their names, which erasure changes.
    data["byStudent"].sort(key=lambda bucket: bucket["key"])
    return data


async def test_erasing_a_student_keeps_every_figure_exact(practicum: Practicum):
    admin = await practicum.user(Role.ADMIN)
    world = await practicum.world()
    student, teacher = world.student, world.teacher
    [classmate] = await practicum.classmates(world, 1)
    await practicum.set_budget(
        admin, scope="SECTION", period="DAILY", limitUsd="50", sectionId=str(world.section.id)
    )
    await practicum.set_budget(
        admin, scope="STUDENT", period="MONTHLY", limitUsd="20", studentId=str(student.id)
    )
    ended = await practicum.start(student, world)
    await practicum.send(student, ended, SECRET_WORDS)
    await practicum.send(student, ended, ALSO_SAID)
    await practicum.gql.ok(END, {"s": ended}, practicum.token(student))
    await practicum.gql.ok(RATE, {"s": ended, "c": COMMENT}, practicum.token(student))
    ongoing = await practicum.start(student, world)
    await practicum.send(student, ongoing, SECRET_WORDS)
    theirs = await practicum.start(classmate, world)
    await practicum.send(classmate, theirs, "Hello there.")
    transcript_before = await practicum.gql.ok(TRANSCRIPT, {"id": ended}, practicum.token(admin))
    as_admin, as_teacher = await figures(practicum, admin), await figures(practicum, teacher)
    assert any(b["spentUsd"] != "0" for b in as_admin["budgets"])

    done = await practicum.gql.ok(ERASE, {"id": str(student.id)}, practicum.token(admin))

    erased = done["eraseStudent"]
    assert (erased["sessions"], erased["messages"], erased["feedback"]) == (2, 6, 1)
    assert erased["user"]["name"] == "Erased user"
    assert student.email not in erased["user"]["email"]
    assert (erased["user"]["active"], erased["user"]["erased"]) == (False, True)
    # Every figure, for the admin and for the teacher, exactly as before.
    assert await figures(practicum, admin) == as_admin
    assert await figures(practicum, teacher) == as_teacher
    # The transcript keeps its shape, counts and cost; not a word of what was said.
    transcript = await practicum.gql.ok(TRANSCRIPT, {"id": ended}, practicum.token(admin))
    session, before = transcript["session"], transcript_before["session"]
    for key in ("messageCount", "totalTokens", "estimatedCost"):
        assert session[key] == before[key]
    assert [(m["role"], m["tokenCount"]) for m in session["messages"]["nodes"]] == [
        (m["role"], m["tokenCount"]) for m in before["messages"]["nodes"]
    ]
    assert {m["content"] for m in session["messages"]["nodes"]} == {"[erased]"}
    assert session["student"] == {"name": "Erased user", "email": erased["user"]["email"]}
    async with practicum.runtime.sessions() as db:
        contents = set(await db.scalars(select(Message.content)))
        comments = set(await db.scalars(select(SessionFeedback.comment)))
    assert not any(MARK in c for c in contents)
    assert COMMENT not in comments
    # The classmate's conversation is untouched.
    classmates = await practicum.gql.ok(TRANSCRIPT, {"id": theirs}, practicum.token(admin))
    assert "Hello there." in [m["content"] for m in classmates["session"]["messages"]["nodes"]]
    # The account can no longer sign in, with the old email or the password.
    for email in (student.email, erased["user"]["email"]):
        error = await practicum.gql.error(LOGIN, {"e": email, "p": PASSWORD})
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await practicum.gql.error("{ me { id } }", token=practicum.token(student))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # Cannot come back, and the log says who erased whom (without their details).
    error = await practicum.gql.error(
        "mutation($id: ID!) { reactivateUser(id: $id) { user { id } } }",
        {"id": str(student.id)},
        practicum.token(admin),
    )
    assert error["extensions"]["code"] == "CONFLICT"
    log = await practicum.gql.ok(
        """query($a: ID!) { auditLog(filter: {actorId: $a, action: "user.erase"}) {
             nodes { targetId details } } }""",
        {"a": str(admin.id)},
        practicum.token(admin),
    )
    [entry] = log["auditLog"]["nodes"]
    assert entry["targetId"] == str(student.id)
    assert student.email not in str(entry) and student.name not in str(entry)


async def test_only_students_are_erased_and_only_by_admins(practicum: Practicum):
    admin = await practicum.user(Role.ADMIN)
    world = await practicum.world()
    for who, target, code in [
        (world.teacher, world.student, "FORBIDDEN"),
        (world.student, world.student, "FORBIDDEN"),
        (admin, world.teacher, "CONFLICT"),
        (admin, admin, "CONFLICT"),
    ]:
        error = await practicum.gql.error(ERASE, {"id": str(target.id)}, practicum.token(who))
        assert error["extensions"]["code"] == code, (who.role, target.role, error)
    me = await practicum.gql.ok("{ me { name } }", token=practicum.token(world.student))
    assert me["me"]["name"] == world.student.name
