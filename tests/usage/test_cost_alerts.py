"""Cost alerts: spending that reaches a share of a cap raises one alert per period and
share (not one per turn), stored for admins and the section's teacher, pushed to
subscribers, logged, and POSTed as JSON to the team's webhook; a webhook that is down
does not break the turn. Many students at once against one global cap: the cap spends
exactly what was billed and each alert is stored once.

Turns run against the fake Anthropic server, where a first turn costs about $0.001 and
the longest reply about 1.4 times that.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest
from gql import GraphQLRequest
from gql.transport.exceptions import TransportQueryError

from api.accounts.models import Role, User
from api.usage.alerts import COST_ALERTS_CHANNEL
from tests.factories.budgets import (
    MAX_REPLY_TOKENS,
    Practicum,
    WebhookReceiver,
    make_practicum_fixture,  # noqa: F401
    practicum_fixture,  # noqa: F401
    today_utc,
    until,
)
from tests.factories.world import World
from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic  # noqa: F401
from tests.transport.conftest import free_port, run_ok, serve
from tests.transport.test_session_events import MAYA, STUDENT, TEACHER, WAIT, _login, ws_client
from tests.transport.test_session_events import User as LoggedIn

ALERT_FIELDS = ("scope", "period", "percent", "spentUsd", "limitUsd")


@pytest.fixture
async def admin(practicum: Practicum) -> User:
    return await practicum.user(Role.ADMIN)


def scope_of(world: World, scope: str) -> dict:
    if scope == "SECTION":
        return {"scope": scope, "sectionId": str(world.section.id)}
    return {"scope": scope, "studentId": str(world.student.id)}


async def crossing_turn(
    practicum: Practicum, setter: User, world: World, percents: list[int], scope="STUDENT"
) -> tuple[dict, str]:
    """A first turn shows what a turn costs; then a daily cap of 2.5 turns (so spending
    stands at 40 %) and a second turn that takes it past 80 %, crossing every one of
    `percents` (all between 40 and 80) at once. Returns the cap and the session."""
    session_id = await practicum.start(world.student, world)
    await practicum.send(world.student, session_id)
    turn = await practicum.billed(session_id)
    budget = await practicum.set_budget(
        setter,
        **scope_of(world, scope),
        period="DAILY",
        limitUsd=str(turn * Decimal("2.5")),
        alertPercents=percents,
    )
    await practicum.send(world.student, session_id)
    return await practicum.budget(setter, budget["id"]), session_id


async def alerts_of(practicum: Practicum, admin: User, budget: dict) -> list[dict]:
    return [a for a in await practicum.alerts(admin) if a["budgetId"] == budget["id"]]


# Once per period and share


async def test_each_share_alerts_once_however_many_turns_pass_it(practicum: Practicum, admin):
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    await practicum.send(world.student, session_id)
    turn = await practicum.billed(session_id)
    budget = await practicum.set_budget(
        admin, **scope_of(world, "STUDENT"), period="DAILY", limitUsd=str(turn * 12)
    )
    assert budget["alertPercents"] == [50, 80, 100]
    limit = Decimal(budget["limitUsd"])

    spent_when_reached: dict[int, Decimal] = {}
    turns_past_half = 0
    while 80 not in spent_when_reached:  # each turn brings it about 8 % closer
        await practicum.send(world.student, session_id)
        spent = await practicum.billed(session_id)
        for percent in (50, 80):
            if spent >= limit * percent / 100:
                spent_when_reached.setdefault(percent, spent)
        alerts = await alerts_of(practicum, admin, budget)
        assert [(a["percent"], Decimal(a["spentUsd"])) for a in alerts] == [
            (percent, spent_when_reached[percent])
            for percent in (80, 50)
            if percent in spent_when_reached
        ]  # one per share reached, newest first, with what was spent when it fired
        turns_past_half += 50 in spent_when_reached
    assert turns_past_half >= 3  # several turns past 50 %, yet one 50 % alert


async def test_one_turn_past_several_shares_raises_each_alert_once(practicum: Practicum, admin):
    world = await practicum.world()
    budget, session_id = await crossing_turn(practicum, admin, world, [50, 60, 70])

    alerts = await alerts_of(practicum, admin, budget)
    assert sorted(a["percent"] for a in alerts) == [50, 60, 70]
    assert [a["createdAt"] for a in alerts] == sorted(
        (a["createdAt"] for a in alerts), reverse=True
    )
    spent = await practicum.billed(session_id)
    for alert in alerts:
        assert {k: alert[k] for k in ("scope", "studentId", "sectionId", "period")} == {
            "scope": "STUDENT",
            "studentId": str(world.student.id),
            "sectionId": None,
            "period": "DAILY",
        }
        assert alert["periodStart"] == today_utc().date().isoformat()
        assert Decimal(alert["spentUsd"]) == spent == Decimal(budget["spentUsd"])
        assert Decimal(alert["limitUsd"]) == Decimal(budget["limitUsd"])
        assert f"{alert['percent']}% of the daily budget" in alert["message"]
        # Sub-cent amounts read exactly, as in a BUDGET_EXCEEDED message, never rounded away
        limit = Decimal(budget["limitUsd"])
        assert f"${spent.normalize():f} of ${limit.normalize():f}" in alert["message"]

    pages = await pages_of_two(practicum, admin, 2)
    assert [a["id"] for page in pages for a in page][:3] == [a["id"] for a in alerts]


async def pages_of_two(practicum: Practicum, admin: User, count: int) -> list[list[dict]]:
    """The first `count` pages of cost alerts, two to a page."""
    query = """query($after: String) {
      costAlerts(first: 2, after: $after) { nodes { id } pageInfo { endCursor } }
    }"""
    pages, after = [], None
    for _ in range(count):
        data = await practicum.gql.ok(query, {"after": after}, practicum.token(admin))
        pages.append(data["costAlerts"]["nodes"])
        after = data["costAlerts"]["pageInfo"]["endCursor"]
    return pages


async def test_teachers_see_their_sections_alerts_and_students_none(practicum: Practicum, admin):
    mine, theirs = await practicum.world(), await practicum.world()
    my_cap, _ = await crossing_turn(practicum, mine.teacher, mine, [50], scope="SECTION")
    their_cap, _ = await crossing_turn(practicum, theirs.teacher, theirs, [50], scope="SECTION")

    for teacher, cap in ((mine.teacher, my_cap), (theirs.teacher, their_cap)):
        seen = await practicum.alerts(teacher)
        assert [(a["budgetId"], a["sectionId"]) for a in seen] == [(cap["id"], cap["sectionId"])]
    everything = {a["budgetId"] for a in await practicum.alerts(admin)}
    assert {my_cap["id"], their_cap["id"]} <= everything
    refused = await practicum.gql.error(
        "{ costAlerts { nodes { id } } }", token=practicum.token(mine.student)
    )
    assert refused["extensions"]["code"] == "FORBIDDEN"


# Telling people


async def test_alerts_are_pushed_to_cost_alert_subscribers(practicum: Practicum, admin):
    world = await practicum.world()
    async with practicum.runtime.broker.subscribe(COST_ALERTS_CHANNEL) as subscription:
        budget, _ = await crossing_turn(practicum, admin, world, [50, 60])
        async with asyncio.timeout(5):
            pushed = [await anext(aiter(subscription)) for _ in range(2)]
    stored = await alerts_of(practicum, admin, budget)
    assert {str(a.id): a.created_at.isoformat() for a in pushed} == {
        a["id"]: a["createdAt"] for a in stored
    }  # the very alerts stored, as stored
    assert sorted(a.percent for a in pushed) == [50, 60]


async def test_a_cap_set_below_what_was_spent_alerts_at_once(practicum: Practicum, admin):
    """Spending already past some shares of a new (or lowered) cap: those alerts fire when
    the cap is set, once, and are pushed like any other."""
    world = await practicum.world()
    session_id = await practicum.start(world.student, world)
    await practicum.send(world.student, session_id)
    turn = await practicum.billed(session_id)
    cap = {**scope_of(world, "STUDENT"), "period": "MONTHLY"}
    async with practicum.runtime.broker.subscribe(COST_ALERTS_CHANNEL) as subscription:
        budget = await practicum.set_budget(admin, **cap, limitUsd=str(turn * Decimal("1.5")))
        async with asyncio.timeout(5):
            pushed = [await anext(aiter(subscription))]
        assert [a["percent"] for a in await alerts_of(practicum, admin, budget)] == [50]

        await practicum.set_budget(admin, **cap, limitUsd=str(turn * Decimal("0.9")))
        async with asyncio.timeout(5):
            pushed += [await anext(aiter(subscription)) for _ in range(2)]
    stored = await alerts_of(practicum, admin, budget)
    assert sorted(a["percent"] for a in stored) == [50, 80, 100]  # 50 not again
    assert sorted(str(a.id) for a in pushed) == sorted(a["id"] for a in stored)
    assert all(Decimal(a["spentUsd"]) == turn for a in stored)
    await practicum.delete_budget(admin, budget["id"])


async def test_alerts_are_logged_and_posted_as_json_to_the_webhook(make_practicum, admin, caplog):
    with WebhookReceiver() as hook:
        practicum: Practicum = make_practicum(alert_webhook_url=hook.url)
        await practicum.runtime.start()  # as `practicum serve` starts it
        world = await practicum.world()
        budget, _ = await crossing_turn(practicum, admin, world, [50, 60])
        await until(lambda: len(hook.received) >= 2)

    stored = {a["id"]: a for a in await alerts_of(practicum, admin, budget)}
    assert sorted(post["id"] for post in hook.received) == sorted(stored)
    for post in hook.received:
        alert = stored[post["id"]]
        assert {k: post[k] for k in ALERT_FIELDS} == {k: alert[k] for k in ALERT_FIELDS}
        assert post["studentId"] == str(world.student.id)
    assert hook.content_types == ["application/json"] * 2
    logged = [r for r in caplog.records if r.name == "practicum.alerts"]
    assert sorted(r.alert["percent"] for r in logged) == [50, 60]
    assert all(r.levelno == logging.WARNING and "budget" in r.getMessage() for r in logged)


async def test_a_webhook_that_is_down_does_not_break_the_turn(make_practicum, admin, caplog):
    practicum: Practicum = make_practicum(
        alert_webhook_url=f"http://127.0.0.1:{free_port()}/nobody-listens"
    )
    await practicum.runtime.start()
    world = await practicum.world()
    budget, session_id = await crossing_turn(practicum, admin, world, [50])

    assert await practicum.stored(session_id) == (4, 2)  # both turns answered and billed
    assert [a["percent"] for a in await alerts_of(practicum, admin, budget)] == [50]
    gave_up = await until(
        lambda: [r for r in caplog.records if "alert webhook failed" in r.getMessage()]
    )
    assert gave_up[0].levelno == logging.ERROR


# Many students at once


def thresholds_above(spent: Decimal, limit: Decimal, count: int = 10) -> list[int]:
    """Up to `count` alert percents spread over what is left of the cap."""
    low = int(100 * spent / limit) + 1
    return sorted({low + (100 - low) * i // (count - 1) for i in range(count)})


async def test_students_at_once_against_one_global_cap_count_exactly_and_alert_once(
    practicum: Practicum, admin
):
    world = await practicum.world()
    students = await practicum.classmates(world, 8)
    sessions = [await practicum.start(student, world) for student in students]
    calibration = await practicum.start(world.student, world)
    await practicum.send(world.student, calibration)
    turn = await practicum.billed(calibration)  # each student's first turn costs the same

    async with practicum.global_cap(admin, period="DAILY", limitUsd="1000") as cap:
        before = Decimal(cap["spentUsd"])  # every test's spending today
        limit = before + turn * len(students) * Decimal("1.5")
        percents = thresholds_above(before, limit)
        cap = await practicum.set_budget(
            admin, scope="GLOBAL", period="DAILY", limitUsd=str(limit), alertPercents=percents
        )
        await asyncio.gather(
            *(practicum.send(s, i) for s, i in zip(students, sessions, strict=True))
        )
        after = Decimal((await practicum.budget(admin, cap["id"]))["spentUsd"])
        alerts = await alerts_of(practicum, admin, cap)

    billed = await practicum.billed(*sessions)
    assert billed == turn * len(students)
    assert after == before + billed
    crossed = [p for p in percents if before < limit * p / 100 <= after]
    assert crossed, "the turns should cross some of the shares"
    assert sorted(a["percent"] for a in alerts) == crossed  # each exactly once


# The real server


async def test_a_served_practicum_pushes_posts_and_logs_cost_alerts(tmp_path):
    data_dir = tmp_path / "data"
    with FakeAnthropic() as fake, WebhookReceiver() as hook:
        env = {
            "ANTHROPIC_API_KEY": fake.api_key,
            "ANTHROPIC_BASE_URL": fake.url,
            "PRACTICUM_ALERT_WEBHOOK_URL": hook.url,
            "PRACTICUM_LOG_FORMAT": "json",
            "PRACTICUM_MAX_REPLY_TOKENS": str(MAX_REPLY_TOKENS),
        }
        with serve(data_dir, env=env) as server:
            run_ok(data_dir, "demo")
            admin = _login(server.url, "admin@practicum.local")
            teacher, student = _login(server.url, TEACHER), _login(server.url, STUDENT)
            session_id, budget = await _cap_at_two_and_a_half_turns(admin, student)
            async with ws_client(server.url, teacher.init_payload()) as ws:
                with pytest.raises(TransportQueryError) as refused:
                    await _first_alerts(ws, 1)
            async with ws_client(server.url, admin.init_payload()) as ws:
                pushed = asyncio.create_task(_first_alerts(ws, 2))
                await asyncio.sleep(0.3)  # the subscription reaches the server
                await student.send(session_id, "It's been hard to sleep since the move.")
                pushed = await asyncio.wait_for(pushed, WAIT)
            await until(lambda: len(hook.received) >= 2, seconds=WAIT)
            stored = await admin.run("{ costAlerts { nodes { id percent spentUsd } } }")
        log = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]

    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"  # admins only
    assert sorted(a["percent"] for a in pushed) == [50, 60]
    assert all(a["budgetId"] == budget["id"] for a in pushed)
    assert sorted(a["id"] for a in stored["costAlerts"]["nodes"]) == sorted(a["id"] for a in pushed)
    assert sorted(post["percent"] for post in hook.received) == [50, 60]
    assert {post["scope"] for post in hook.received} == {"STUDENT"}
    logged = [entry for entry in log if entry.get("logger") == "practicum.alerts"]
    assert sorted(entry["alert"]["percent"] for entry in logged) == [50, 60]


async def _cap_at_two_and_a_half_turns(admin: LoggedIn, student: LoggedIn) -> tuple[str, dict]:
    me = await student.run("{ me { id } }")
    clients = await student.run("{ clientProfiles { nodes { id name } } }")
    maya = next(c["id"] for c in clients["clientProfiles"]["nodes"] if c["name"] == MAYA)
    session_id = await student.start_session(maya)
    await student.send(session_id, "Hi Maya, what brings you here today?")
    turn = await _settled_cost(student, session_id)
    data = await admin.run(
        "mutation($input: SetBudgetInput!) { setBudget(input: $input) { budget { id } } }",
        input={
            "scope": "STUDENT",
            "studentId": me["me"]["id"],
            "period": "DAILY",
            "limitUsd": str(turn * Decimal("2.5")),
            "alertPercents": [50, 60],
        },
    )
    return session_id, data["setBudget"]["budget"]


async def _settled_cost(student: LoggedIn, session_id: str) -> Decimal:
    query = """query($id: ID!) {
      session(id: $id) { estimatedCost messages(first: 9) { nodes { status } } }
    }"""

    async def cost() -> Decimal | None:
        session = (await student.run(query, id=session_id))["session"]
        statuses = [m["status"] for m in session["messages"]["nodes"]]
        return Decimal(session["estimatedCost"]) if "STREAMING" not in statuses else None

    return await until(cost, seconds=WAIT)


async def _first_alerts(ws, count: int) -> list[dict]:
    request = GraphQLRequest(
        "subscription { costAlerts { id budgetId percent spentUsd limitUsd scope period } }"
    )
    alerts = []
    async for result in ws.subscribe(request):
        alerts.append(result["costAlerts"])
        if len(alerts) == count:
            return alerts
    return alerts
