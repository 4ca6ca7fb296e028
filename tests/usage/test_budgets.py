"""Budgets: who may set which cap, what counts as a sensible cap, turns refused before the
model is asked when a reply could pass a cap, and spending counted to the nano-dollar.

Everything goes through GraphQL as admins, teachers and students use it, on an app whose
Claude is the fake Anthropic server (a turn costs about $0.001 there). Global caps are
shared by every test on the database, so each test removes the global cap it sets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from api.accounts.models import Role
from api.usage import analytics
from api.usage.models import UsageRecord
from tests.factories.accounts import actor
from tests.factories.budgets import (
    Practicum,
    first_of_next_month,
    make_practicum_fixture,  # noqa: F401
    next_midnight,
    practicum_fixture,  # noqa: F401
)
from tests.fakes.anthropic_server import Fault, fake_anthropic  # noqa: F401

TOO_SMALL = "0.0001"  # less than any turn's worst case (about $0.0013)
PLENTY = "5"  # far more than the turns of a test cost


@pytest.fixture
async def admin(practicum: Practicum):
    return await practicum.user(Role.ADMIN)


def fields_named(error: dict) -> list[str]:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return [problem["field"] for problem in error["extensions"]["fields"]]


async def caps_of_sections(practicum: Practicum, teacher) -> list[str]:
    """The caps a teacher sees besides the global ones (which every teacher sees)."""
    return [b["id"] for b in await practicum.budgets(teacher) if b["scope"] != "GLOBAL"]


# Bad input


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param("-5", id="negative"),
        pytest.param("0", id="zero"),
        pytest.param("0.000", id="zero-with-decimals"),
        pytest.param("1000000.01", id="above-the-maximum"),
        pytest.param(1e300, id="absurd-number"),
        pytest.param("NaN", id="not-a-number"),
        pytest.param("Infinity", id="infinite"),
        pytest.param("0.0000000001", id="finer-than-a-nano-dollar"),
    ],
)
async def test_a_limit_that_is_not_a_sensible_amount_of_dollars_is_refused(
    practicum: Practicum, admin, limit
):
    error = await practicum.set_budget_error(admin, scope="GLOBAL", period="DAILY", limitUsd=limit)
    assert fields_named(error) == ["limitUsd"]
    assert "limit" in error["message"]


@pytest.mark.parametrize("limit", ["ten dollars", "12,50", ""])
async def test_a_limit_that_is_not_a_number_is_refused_naming_the_field(
    practicum: Practicum, admin, limit
):
    error = await practicum.set_budget_error(admin, scope="GLOBAL", period="DAILY", limitUsd=limit)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "limitUsd" in error["message"]


async def test_the_largest_allowed_limit_with_nano_dollars_is_accepted(practicum: Practicum, admin):
    world = await practicum.world()
    budget = await practicum.set_budget(
        admin,
        scope="STUDENT",
        studentId=str(world.student.id),
        period="MONTHLY",
        limitUsd="999999.999999999",
    )
    assert Decimal(budget["limitUsd"]) == Decimal("999999.999999999")


@pytest.mark.parametrize(
    "percents",
    [
        pytest.param([0, 50], id="zero"),
        pytest.param([50, 101], id="above-100"),
        pytest.param([-10], id="negative"),
        pytest.param(list(range(5, 60, 5)), id="eleven-of-them"),
    ],
)
async def test_alert_percents_outside_1_to_100_or_too_many_are_refused(
    practicum: Practicum, admin, percents
):
    error = await practicum.set_budget_error(
        admin, scope="GLOBAL", period="DAILY", limitUsd="10", alertPercents=percents
    )
    assert fields_named(error) == ["alertPercents"]


@pytest.mark.parametrize(
    ("scope", "extra", "field"),
    [
        pytest.param("SECTION", {}, "sectionId", id="section-without-section"),
        pytest.param("STUDENT", {}, "studentId", id="student-without-student"),
        pytest.param("GLOBAL", {"studentId": "student"}, "studentId", id="global-with-student"),
        pytest.param("GLOBAL", {"sectionId": "section"}, "sectionId", id="global-with-section"),
    ],
)
async def test_a_scope_without_its_id_or_with_a_foreign_one_is_refused(
    practicum: Practicum, admin, scope, extra, field
):
    world = await practicum.world()
    ids = {"studentId": str(world.student.id), "sectionId": str(world.section.id)}
    extra = {name: ids[name] for name in extra}
    error = await practicum.set_budget_error(
        admin, scope=scope, period="DAILY", limitUsd="10", **extra
    )
    assert fields_named(error) == [field]


async def test_every_problem_is_named_at_once(practicum: Practicum, admin):
    error = await practicum.set_budget_error(
        admin, scope="SECTION", period="DAILY", limitUsd="-1", alertPercents=[0]
    )
    assert sorted(fields_named(error)) == ["alertPercents", "limitUsd", "sectionId"]


async def test_a_malformed_section_id_is_refused_naming_the_field(practicum: Practicum, admin):
    error = await practicum.set_budget_error(
        admin, scope="SECTION", sectionId="not-an-id", period="DAILY", limitUsd="10"
    )
    assert fields_named(error) == ["sectionId"]


# Who may set which cap


async def test_students_may_not_set_or_see_budgets(practicum: Practicum):
    world = await practicum.world()
    token = practicum.token(world.student)
    set_own = await practicum.set_budget_error(
        world.student,
        scope="STUDENT",
        studentId=str(world.student.id),
        period="DAILY",
        limitUsd="9",
    )
    assert set_own["extensions"]["code"] == "FORBIDDEN"
    listed = await practicum.gql.error("{ budgets { id } }", token=token)
    assert listed["extensions"]["code"] == "FORBIDDEN"


async def test_a_teacher_caps_their_own_section_only(practicum: Practicum, admin):
    mine, theirs = await practicum.world(), await practicum.world()
    teacher = mine.teacher

    budget = await practicum.set_budget(
        teacher, scope="SECTION", sectionId=str(mine.section.id), period="DAILY", limitUsd="3.50"
    )
    assert (budget["scope"], budget["sectionId"], Decimal(budget["limitUsd"])) == (
        "SECTION",
        str(mine.section.id),
        Decimal("3.5"),
    )
    assert budget["alertPercents"] == [50, 80, 100]

    refused = {
        # as if it did not exist: another teacher's section is not theirs to know of
        "another teacher's section": (
            "NOT_FOUND",
            dict(scope="SECTION", sectionId=str(theirs.section.id)),
        ),
        "everyone": ("FORBIDDEN", dict(scope="GLOBAL")),
        "their own student": ("FORBIDDEN", dict(scope="STUDENT", studentId=str(mine.student.id))),
    }
    for what, (code, fields) in refused.items():
        error = await practicum.set_budget_error(teacher, period="DAILY", limitUsd="1", **fields)
        assert error["extensions"]["code"] == code, what
    assert await caps_of_sections(practicum, teacher) == [budget["id"]]
    assert {b["sectionId"] for b in await practicum.budgets(admin)} >= {str(mine.section.id)}


async def test_a_section_or_student_that_does_not_exist_is_not_found(practicum: Practicum, admin):
    world = await practicum.world()
    nobody = "00000000-0000-4000-8000-000000000000"
    for who, fields in [
        (world.teacher, dict(scope="SECTION", sectionId=nobody)),
        (admin, dict(scope="SECTION", sectionId=nobody)),
        (admin, dict(scope="STUDENT", studentId=nobody)),
        (admin, dict(scope="STUDENT", studentId=str(world.teacher.id))),  # not a student
    ]:
        error = await practicum.set_budget_error(who, period="DAILY", limitUsd="1", **fields)
        assert error["extensions"]["code"] == "NOT_FOUND", fields


async def test_a_teachers_section_cap_stays_within_the_global_cap_of_its_period(
    practicum: Practicum, admin
):
    world = await practicum.world()
    section = dict(scope="SECTION", sectionId=str(world.section.id))
    async with practicum.global_cap(admin, period="DAILY", limitUsd="20"):
        above = await practicum.set_budget_error(
            world.teacher, period="DAILY", limitUsd="20.01", **section
        )
        assert fields_named(above) == ["limitUsd"]
        assert "$20" in above["message"]
        at_cap = await practicum.set_budget(world.teacher, period="DAILY", limitUsd="20", **section)
        monthly = await practicum.set_budget(
            world.teacher, period="MONTHLY", limitUsd="500", **section
        )
    assert Decimal(at_cap["limitUsd"]) == 20
    assert Decimal(monthly["limitUsd"]) == 500


async def test_admins_set_every_kind_of_cap_and_change_it(practicum: Practicum, admin):
    world = await practicum.world()
    student = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(world.student.id), period="DAILY", limitUsd="2"
    )
    section = await practicum.set_budget(
        admin,
        scope="SECTION",
        sectionId=str(world.section.id),
        period="MONTHLY",
        limitUsd="40",
        alertPercents=[90, 25, 25],
    )
    async with practicum.global_cap(admin, period="MONTHLY", limitUsd="1000") as everyone:
        assert everyone["scope"] == "GLOBAL" and everyone["sectionId"] is None
        changed = await practicum.set_budget(
            admin, scope="STUDENT", studentId=str(world.student.id), period="DAILY", limitUsd="3"
        )
    assert section["alertPercents"] == [25, 90]
    assert changed["id"] == student["id"]  # one cap per scope and period
    assert Decimal(changed["limitUsd"]) == 3
    assert Decimal((await practicum.budget(admin, student["id"]))["limitUsd"]) == 3


async def test_a_round_limit_reads_back_as_written(practicum: Practicum, admin):
    world = await practicum.world()
    budget = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(world.student.id), period="DAILY", limitUsd="1000"
    )
    assert (await practicum.budget(admin, budget["id"]))["limitUsd"] == "1000"


async def test_budgets_each_role_sees_and_may_remove(practicum: Practicum, admin):
    mine, theirs = await practicum.world(), await practicum.world()
    own = await practicum.set_budget(
        admin, scope="SECTION", sectionId=str(mine.section.id), period="DAILY", limitUsd="2"
    )
    other = await practicum.set_budget(
        admin, scope="SECTION", sectionId=str(theirs.section.id), period="DAILY", limitUsd="2"
    )
    student = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(mine.student.id), period="DAILY", limitUsd="1"
    )
    assert {own["id"], other["id"], student["id"]} <= {
        b["id"] for b in await practicum.budgets(admin)
    }
    assert await caps_of_sections(practicum, mine.teacher) == [own["id"]]

    token = practicum.token(mine.teacher)
    delete = "mutation($id: ID!) { deleteBudget(id: $id) { deletedId } }"
    for hidden in (other["id"], student["id"]):
        error = await practicum.gql.error(delete, {"id": hidden}, token)
        assert error["extensions"]["code"] == "NOT_FOUND"
    deleted = await practicum.gql.ok(delete, {"id": own["id"]}, token)
    assert deleted["deleteBudget"]["deletedId"] == own["id"]
    assert await caps_of_sections(practicum, mine.teacher) == []
    assert student["id"] in {b["id"] for b in await practicum.budgets(admin)}


async def test_a_teacher_cannot_remove_the_global_cap(practicum: Practicum, admin):
    world = await practicum.world()
    async with practicum.global_cap(admin, period="MONTHLY", limitUsd="900") as everyone:
        assert everyone["id"] in {b["id"] for b in await practicum.budgets(world.teacher)}
        error = await practicum.gql.error(
            "mutation($id: ID!) { deleteBudget(id: $id) { deletedId } }",
            {"id": everyone["id"]},
            practicum.token(world.teacher),
        )
        assert error["extensions"]["code"] == "FORBIDDEN"


# Turns refused before the model is asked


def resets(period: str, now: datetime) -> datetime:
    return next_midnight(now) if period == "DAILY" else first_of_next_month(now)


@pytest.mark.parametrize("period", ["DAILY", "MONTHLY"])
@pytest.mark.parametrize("scope", ["STUDENT", "SECTION", "GLOBAL"])
async def test_a_turn_that_could_pass_a_cap_is_refused_before_the_model_is_asked(
    practicum: Practicum, admin, scope, period
):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    before = await practicum.stored(session_id)
    ids = {
        "STUDENT": {"studentId": str(world.student.id)},
        "SECTION": {"sectionId": str(world.section.id)},
    }
    cap = dict(period=period, limitUsd=TOO_SMALL, **ids.get(scope, {}))

    if scope == "GLOBAL":
        async with practicum.global_cap(admin, **cap):
            error = await practicum.send_error(world.student, session_id)
    else:
        await practicum.set_budget(admin, scope=scope, **cap)
        error = await practicum.send_error(world.student, session_id)
    now = datetime.now(UTC)

    extensions = error["extensions"]
    assert (extensions["code"], extensions["scope"], extensions["period"]) == (
        "BUDGET_EXCEEDED",
        scope,
        period,
    )
    resets_at = datetime.fromisoformat(extensions["resetsAt"])
    assert resets_at == resets(period, now)
    assert abs((now - resets_at).total_seconds() + extensions["retryAfter"]) <= 5
    assert f"resets at 00:00 UTC on {resets_at:%d %b}" in error["message"]
    assert "not sent" in error["message"]
    assert practicum.fake.requests == []  # the model was never asked
    assert await practicum.stored(session_id) == before  # no message, no usage record


async def test_a_turn_refused_by_a_cap_can_be_sent_once_the_cap_is_raised(
    practicum: Practicum, admin
):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    cap = dict(scope="STUDENT", studentId=str(world.student.id), period="DAILY")
    await practicum.set_budget(admin, limitUsd=TOO_SMALL, **cap)
    refused = await practicum.send_error(world.student, session_id)
    assert refused["extensions"]["code"] == "BUDGET_EXCEEDED"

    await practicum.set_budget(admin, limitUsd=PLENTY, **cap)
    await practicum.send(world.student, session_id)
    assert await practicum.stored(session_id) == (2, 1)
    assert len(practicum.fake.requests) == 1


async def test_a_student_close_to_their_cap_is_refused_though_not_yet_over_it(
    practicum: Practicum, admin
):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    await practicum.send(world.student, session_id)
    spent = await practicum.billed(session_id)
    budget = await practicum.set_budget(
        admin,
        scope="STUDENT",
        studentId=str(world.student.id),
        period="DAILY",
        limitUsd=str(spent * 2),  # a second turn's longest reply could pass it
    )
    error = await practicum.send_error(world.student, session_id)
    assert error["extensions"]["code"] == "BUDGET_EXCEEDED"
    assert Decimal((await practicum.budget(admin, budget["id"]))["spentUsd"]) == spent
    assert f"(${spent.normalize():f} of ${(spent * 2).normalize():f})" in error["message"]
    assert len(practicum.fake.requests) == 1


async def test_retrying_a_failed_reply_is_refused_when_it_could_pass_a_cap(
    practicum: Practicum, admin
):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    practicum.fake.enqueue(Fault.status(400))  # not retried: the reply fails
    await practicum.send(world.student, session_id)
    await practicum.set_budget(
        admin,
        scope="SECTION",
        sectionId=str(world.section.id),
        period="MONTHLY",
        limitUsd=TOO_SMALL,
    )
    token = practicum.token(world.student)
    failed = await practicum.gql.ok(
        "query($id: ID!) { session(id: $id) { messages(first: 5) { nodes { id status } } } }",
        {"id": session_id},
        token,
    )
    reply = failed["session"]["messages"]["nodes"][-1]
    assert reply["status"] == "FAILED"

    error = await practicum.gql.error(
        "mutation($id: ID!) { retryReply(messageId: $id) { assistantMessage { status } } }",
        {"id": reply["id"]},
        token,
    )
    assert error["extensions"]["code"] == "BUDGET_EXCEEDED"
    assert len(practicum.fake.requests) == 1  # only the first, failed attempt


# Spending, to the nano-dollar


async def spent(practicum: Practicum, admin, budget: dict) -> Decimal:
    return Decimal((await practicum.budget(admin, budget["id"]))["spentUsd"])


async def test_every_cap_a_turn_counts_toward_spends_exactly_what_was_billed(
    practicum: Practicum, admin
):
    world, elsewhere = await practicum.world(), await practicum.world()
    student = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(world.student.id), period="DAILY", limitUsd=PLENTY
    )
    section = await practicum.set_budget(
        admin, scope="SECTION", sectionId=str(world.section.id), period="MONTHLY", limitUsd=PLENTY
    )
    async with practicum.global_cap(admin, period="DAILY", limitUsd="100") as everyone:
        before = Decimal(everyone["spentUsd"])
        first = await practicum.start(world.student, world)
        await practicum.send(world.student, first)
        await practicum.send(world.student, first)
        second = await practicum.start(world.student, world)  # ends the first
        await practicum.send(world.student, second)
        other = await practicum.start(elsewhere.student, elsewhere)
        await practicum.send(elsewhere.student, other)
        assert len(practicum.fake.requests) == 4
        billed, billed_elsewhere = (
            await practicum.billed(first, second),
            await practicum.billed(other),
        )
        assert await spent(practicum, admin, everyone) == before + billed + billed_elsewhere
    assert billed > 0
    assert await spent(practicum, admin, student) == billed
    assert await spent(practicum, admin, section) == billed


async def test_a_cap_set_mid_period_starts_from_what_was_already_spent(practicum: Practicum, admin):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    for _ in range(2):
        await practicum.send(world.student, session_id)
    billed = await practicum.billed(session_id)

    student = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(world.student.id), period="MONTHLY", limitUsd=PLENTY
    )
    section = await practicum.set_budget(
        world.teacher,
        scope="SECTION",
        sectionId=str(world.section.id),
        period="DAILY",
        limitUsd="1",
    )
    assert Decimal(student["spentUsd"]) == Decimal(section["spentUsd"]) == billed

    await practicum.send(world.student, session_id)
    billed = await practicum.billed(session_id)
    assert (
        await spent(practicum, admin, student) == await spent(practicum, admin, section) == billed
    )


async def test_a_daily_and_a_monthly_cap_of_one_scope_both_count_every_turn(
    practicum: Practicum, admin
):
    world = await practicum.world()
    caps = [
        await practicum.set_budget(
            admin, scope="STUDENT", studentId=str(world.student.id), period=period, limitUsd=PLENTY
        )
        for period in ("DAILY", "MONTHLY")
    ]
    session_id = await practicum.start(world.student, world)

    await practicum.send(world.student, session_id)

    billed = await practicum.billed(session_id)
    assert billed > 0
    assert [await spent(practicum, admin, cap) for cap in caps] == [billed, billed]


async def test_a_call_abandoned_before_it_started_counts_toward_caps_and_analytics(
    make_practicum, admin
):
    """A call that never started in time was sent, so it may be billed: its prompt counts,
    marked estimated, wherever spending is seen."""
    practicum = make_practicum(
        first_token_timeout_seconds=0.3,
        retry_base_delay_seconds=0.01,
        retry_max_delay_seconds=0.02,
    )
    world = await practicum.world()
    cap = await practicum.set_budget(
        admin, scope="STUDENT", studentId=str(world.student.id), period="DAILY", limitUsd=PLENTY
    )
    session_id = await practicum.start(world.student, world)
    practicum.fake.enqueue(Fault.slow_start(2.0), Fault.slow_start(2.0))  # then an answer
    await practicum.send(world.student, session_id)

    async with practicum.runtime.sessions() as db:
        estimated = await db.scalar(
            select(func.sum(UsageRecord.cost)).where(
                UsageRecord.session_id == uuid.UUID(session_id), UsageRecord.estimated.is_(True)
            )
        )
        today = datetime.now(UTC).date()
        seen = await analytics.usage_summary(
            db, actor(world.teacher), practicum.settings, today, today
        )
    billed = await practicum.billed(session_id)
    assert estimated and estimated > 0 and billed > estimated
    assert await spent(practicum, admin, cap) == billed
    assert (seen.totals.calls, seen.totals.cost) == (3, billed)
