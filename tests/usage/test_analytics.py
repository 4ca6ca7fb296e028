"""Usage analytics over GraphQL against a small world whose figures are worked out by hand.

The world (built once per database, on days of March 2021 that no other test uses):

    Tess teaches Harbour (Ada, Ben; assignment "Harbour intake" with Jordan).
    Theo teaches Ridge (Cy; assignment "Ridge intake" with Morgan).
    The range is D0..D6. Haiku is $1/M in, $5/M out, 1.25x writes, 0.1x reads;
    Sonnet $3/M in, $15/M out.

    session  who   client  assignment  started    ended      usage (day: msgs, calls)
    before   Ben   Jordan  Harbour     D-1 09:00  D0 01:00   D-1: 2 msgs, 1000 in 1000 out $0.006
    s1       Ada   Jordan  Harbour     D1 09:00   D1 09:30   D1: 4 msgs, 1000/200 $0.002
                                                                 + 200/100 read 1000 $0.0008
    s2       Ben   Jordan  Harbour     D1 23:30   D2 00:15   D1: 2 msgs, 500/100 write 1000
                                                                 $0.00225
                                                             D2: 2 msgs, Sonnet 1000/100 $0.0045
    s3       Ada   Jordan  none        D3 12:00   active     D3: 2 msgs, 3000/400 $0.005
    s4       Tess  Jordan  none        D3 14:00   D3 14:20   D3: 2 msgs, 100/20 $0.0002
    s5       Cy    Morgan  Ridge       D2 08:00   D4 10:00   D2: 2 msgs, 2000/400 $0.004
                                                             D4: 2 msgs, 400/200 read 2000
                                                                 $0.0016
    s6       Cy    Morgan  Ridge       D5 10:00   active     none
    late     Ben   Jordan  none        D-1 20:00  D-1 20:30  none (rated on D0)
    after    Ada   Jordan  Harbour     D7 09:00   D7 09:30   D7: 2 msgs, 10/10 $0.00006

Ratings: late 5 (D0), before 4 (D0), s1 5 (D1), s2 3 (D2), s4 1 (D3), s5 2 (D4), after 5 (D7).
Errors: s1 provider.overloaded D1 09:10, s2 provider.server D2 00:05, s5
provider.rate_limited D2 08:05, webhook.failed (no session) D3 12:00, s3 provider.timeout
D6 18:00, after provider.connection D7 10:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from api.accounts.models import Role, User
from api.classes.models import Assignment, Section
from api.conversations.models import Session
from tests.factories.accounts import make_user
from tests.factories.classes import make_section
from tests.factories.clients import make_profile
from tests.factories.usage import (
    SONNET,
    Call,
    add_usage,
    at,
    make_error,
    make_session,
    make_titled_assignment,
    rate,
    token_for,
)

D0 = date(2021, 3, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


WEEK = {"start": str(day(0)), "end": str(day(6))}


@dataclass
class World:
    admin: User
    tess: User
    theo: User
    ada: User
    ben: User
    cy: User
    harbour: Section
    ridge: Section
    harbour_intake: Assignment
    ridge_intake: Assignment
    sessions: dict[str, Session]
    errors: dict[str, str]  # name: id


@pytest.fixture(scope="module")
async def world(runtime, settings) -> World:
    async with runtime.sessions() as db:
        return await build_world(db, settings)


async def build_world(db, settings) -> World:
    admin = await make_user(db, Role.ADMIN, name="Ines Admin")
    tess = await make_user(db, Role.TEACHER, name="Tess")
    theo = await make_user(db, Role.TEACHER, name="Theo")
    ada, ben, cy = [await make_user(db, name=name) for name in ("Ada", "Ben", "Cy")]
    jordan = await make_profile(db, settings, tess, name="Jordan")
    morgan = await make_profile(db, settings, theo, name="Morgan")
    harbour = await make_section(db, settings, tess, ada, ben, name="Harbour")
    ridge = await make_section(db, settings, theo, cy, name="Ridge")
    harbour_intake = await make_titled_assignment(
        db, settings, tess, harbour, "Harbour intake", jordan
    )
    ridge_intake = await make_titled_assignment(db, settings, theo, ridge, "Ridge intake", morgan)

    def started(who, client, assignment, begin, end=None):
        return make_session(db, who, client, begin, assignment=assignment, ended=end)

    s = {
        "before": await started(ben, jordan, harbour_intake, at(day(-1), 9), at(day(0), 1)),
        "s1": await started(ada, jordan, harbour_intake, at(day(1), 9), at(day(1), 9, 30)),
        "s2": await started(ben, jordan, harbour_intake, at(day(1), 23, 30), at(day(2), 0, 15)),
        "s3": await started(ada, jordan, None, at(day(3), 12)),
        "s4": await started(tess, jordan, None, at(day(3), 14), at(day(3), 14, 20)),
        "s5": await started(cy, morgan, ridge_intake, at(day(2), 8), at(day(4), 10)),
        "s6": await started(cy, morgan, ridge_intake, at(day(5), 10)),
        "late": await started(ben, jordan, None, at(day(-1), 20), at(day(-1), 20, 30)),
        "after": await started(ada, jordan, harbour_intake, at(day(7), 9), at(day(7), 9, 30)),
    }
    usage = [
        ("before", at(day(-1), 9, 5), 2, [Call(1000, 1000, "0.006")]),
        (
            "s1",
            at(day(1), 9, 5),
            4,
            [Call(1000, 200, "0.002"), Call(200, 100, "0.0008", cache_read=1000)],
        ),
        ("s2", at(day(1), 23, 35), 2, [Call(500, 100, "0.00225", cache_write=1000)]),
        ("s2", at(day(2), 0, 5), 2, [Call(1000, 100, "0.0045", model=SONNET)]),
        ("s3", at(day(3), 12, 5), 2, [Call(3000, 400, "0.005")]),
        ("s4", at(day(3), 14, 5), 2, [Call(100, 20, "0.0002")]),
        ("s5", at(day(2), 8, 5), 2, [Call(2000, 400, "0.004")]),
        ("s5", at(day(4), 9, 5), 2, [Call(400, 200, "0.0016", cache_read=2000)]),
        ("after", at(day(7), 9, 5), 2, [Call(10, 10, "0.00006")]),
    ]
    for name, when, messages, calls in usage:
        await add_usage(db, s[name], when, messages=messages, calls=calls)
    for name, rating, n in [
        ("late", 5, 0),
        ("before", 4, 0),
        ("s1", 5, 1),
        ("s2", 3, 2),
        ("s4", 1, 3),
        ("s5", 2, 4),
        ("after", 5, 7),
    ]:
        await rate(db, s[name], rating, at(day(n), 22))
    errors = {
        "overloaded": await make_error(db, "provider.overloaded", at(day(1), 9, 10), s["s1"]),
        "server": await make_error(db, "provider.server", at(day(2), 0, 5), s["s2"]),
        "rate_limited": await make_error(db, "provider.rate_limited", at(day(2), 8, 5), s["s5"]),
        "webhook": await make_error(db, "webhook.failed", at(day(3), 12)),
        "timeout": await make_error(db, "provider.timeout", at(day(6), 18), s["s3"]),
        "connection": await make_error(db, "provider.connection", at(day(7), 10), s["after"]),
    }
    return World(
        admin,
        tess,
        theo,
        ada,
        ben,
        cy,
        harbour,
        ridge,
        harbour_intake,
        ridge_intake,
        s,
        {name: str(event.id) for name, event in errors.items()},
    )


# Queries

TOTALS = """fragment Totals on UsageTotals {
  messages modelCalls inputTokens outputTokens cacheWriteTokens cacheReadTokens
  totalTokens cost cacheReadShare
}"""
# The world's figures are worked out with Tess's own test conversation (s4) in them; the
# default, students' practice only, is checked apart (`$tests: false`).
SUMMARY = (
    """query($range: DateRangeInput!, $tests: Boolean! = true) {
      usageSummary(range: $range, includeTests: $tests) {
      start end sessions completedSessions
      averageCostPerCompletedSession medianCostPerCompletedSession totals { ...Totals } } }"""
    + TOTALS
)
USAGE = (
    """query($range: DateRangeInput!, $by: UsageGroupBy!, $tests: Boolean! = true) {
      usage(range: $range, groupBy: $by, includeTests: $tests) {
      key label sessions totals { ...Totals } } }"""
    + TOTALS
)
DAILY = """query($range: DateRangeInput!, $tests: Boolean! = true) {
  dailyStats(range: $range, includeTests: $tests) {
  day sessionsCreated messagesStored tokensUsed cost errors } }"""
FEEDBACK = """query($range: DateRangeInput!) { clientFeedback(range: $range) {
  clientName ratings averageRating positiveShare } }"""
ERRORS = """query($filter: ErrorEventFilter, $first: Int, $after: String) {
  errorEvents(filter: $filter, first: $first, after: $after) {
    nodes { id category } pageInfo { hasNextPage endCursor } } }"""


def totals(messages=0, calls=0, input=0, output=0, write=0, read=0, cost="0", share="0.0000"):
    return {
        "messages": messages,
        "modelCalls": calls,
        "inputTokens": input,
        "outputTokens": output,
        "cacheWriteTokens": write,
        "cacheReadTokens": read,
        "totalTokens": input + output + write + read,
        "cost": cost,
        "cacheReadShare": share,
    }


async def ask(gql, settings, user: User, query: str, **variables) -> dict:
    data = await gql.ok(query, variables, token_for(settings, user))
    [answer] = data.values()
    return answer


async def refusal(gql, settings, user: User, query: str, **variables) -> dict:
    error = await gql.error(query, variables, token_for(settings, user))
    return error["extensions"]


def buckets(answer: list[dict]) -> dict[str, tuple]:
    return {b["key"]: (b["label"], b["sessions"], b["totals"]) for b in answer}


# usageSummary


async def test_admin_summary_adds_up_every_session_message_token_and_dollar_in_the_week(
    world, gql, settings
):
    summary = await ask(gql, settings, world.admin, SUMMARY, range=WEEK)
    assert summary == {
        "start": str(day(0)),
        "end": str(day(6)),
        "sessions": 6,  # s1..s6; "before", "late" and "after" started outside the week
        "completedSessions": 5,  # before, s1, s2, s4, s5: ended in the week
        # before 0.006 + s1 0.0028 + s2 0.00675 + s4 0.0002 + s5 0.0056 = 0.02135, / 5
        "averageCostPerCompletedSession": "0.00427",
        "medianCostPerCompletedSession": "0.0056",  # odd count: the middle one
        # 3000 read of 8200 + 1000 + 3000 input tokens
        "totals": totals(16, 8, 8200, 1520, 1000, 3000, "0.02035", share="0.2459"),
    }


async def test_teacher_summary_covers_their_section_and_their_own_practice(world, gql, settings):
    tess = await ask(gql, settings, world.tess, SUMMARY, range=WEEK)
    assert tess == {
        "start": str(day(0)),
        "end": str(day(6)),
        # s1, s2 in Harbour, s4 her own, s3 Ada's free practice with her client Jordan
        "sessions": 4,
        "completedSessions": 4,  # before, s1, s2, s4
        "averageCostPerCompletedSession": "0.0039375",  # 0.01575 / 4
        "medianCostPerCompletedSession": "0.0044",  # even count: (0.0028 + 0.006) / 2
        "totals": totals(12, 6, 5800, 920, 1000, 1000, "0.01475", share="0.1282"),
    }
    theo = await ask(gql, settings, world.theo, SUMMARY, range=WEEK)
    assert (theo["sessions"], theo["completedSessions"]) == (2, 1)
    assert theo["averageCostPerCompletedSession"] == theo["medianCostPerCompletedSession"]
    assert theo["medianCostPerCompletedSession"] == "0.0056"
    assert theo["totals"] == totals(4, 2, 2400, 600, 0, 2000, "0.0056", share="0.4545")


async def test_a_teachers_figures_cover_exactly_the_sessions_her_lists_show(world, gql, settings):
    """One rule for both: her sections' sessions, her own practice, and every session held
    with her client profiles (s3 and "late": practice with Jordan outside any section)."""
    listed = await ask(
        gql, settings, world.tess, "{ sessions(first: 100) { nodes { id estimatedCost } } }"
    )
    names = {str(s.id): name for name, s in world.sessions.items()}
    shown = {names[node["id"]]: Decimal(node["estimatedCost"]) for node in listed["nodes"]}
    assert sorted(shown) == ["after", "before", "late", "s1", "s2", "s3", "s4"]
    everything = {"start": str(day(-1)), "end": str(day(7))}
    summary = await ask(gql, settings, world.tess, SUMMARY, range=everything)
    assert Decimal(summary["totals"]["cost"]) == sum(shown.values()) == Decimal("0.02081")


async def test_a_quiet_range_sums_to_zero(world, gql, settings):
    quiet = {"start": str(day(20)), "end": str(day(25))}
    summary = await ask(gql, settings, world.tess, SUMMARY, range=quiet)
    assert summary["sessions"] == summary["completedSessions"] == 0
    assert summary["averageCostPerCompletedSession"] == "0"
    assert summary["medianCostPerCompletedSession"] == "0"
    assert summary["totals"] == totals()


async def whole_dollar_sessions(db, settings) -> User:
    """A teacher whose section's two sessions on D30 cost exactly $10 and $30."""
    teacher = await make_user(db, Role.TEACHER)
    student = await make_user(db)
    profile = await make_profile(db, settings, teacher)
    section = await make_section(db, settings, teacher, student)
    assignment = await make_titled_assignment(db, settings, teacher, section, "Big", profile)
    for dollars in ("10", "30"):
        conversation = await make_session(
            db, student, profile, at(day(30), 9), assignment=assignment, ended=at(day(30), 10)
        )
        await add_usage(db, conversation, at(day(30), 9, 30), calls=[Call(0, 0, dollars)])
    return teacher


async def test_whole_dollar_averages_read_as_plain_numbers(db, gql, settings):
    teacher = await whole_dollar_sessions(db, settings)
    one_day = {"start": str(day(30)), "end": str(day(30))}
    summary = await ask(gql, settings, teacher, SUMMARY, range=one_day)
    assert summary["averageCostPerCompletedSession"] == "20"
    assert summary["medianCostPerCompletedSession"] == "20"


async def test_whole_dollar_costs_read_as_plain_numbers(db, gql, settings):
    teacher = await whole_dollar_sessions(db, settings)
    one_day = {"start": str(day(30)), "end": str(day(30))}
    summary = await ask(gql, settings, teacher, SUMMARY, range=one_day)
    [stats] = await ask(gql, settings, teacher, DAILY, range=one_day)
    assert (summary["totals"]["cost"], stats["cost"]) == ("40", "40")


# usage(groupBy): a bucket's `sessions` are those whose first message was in the range,
# counted on that day and under the session's own model (s2's Sonnet answer counts none).


def admin_buckets(w: World) -> dict[str, dict]:
    ada_s1_s3 = totals(6, 3, 4200, 700, 0, 1000, "0.0078", share="0.1923")
    ben_s2 = totals(4, 2, 1500, 200, 1000, 0, "0.00675")
    cy_s5 = totals(4, 2, 2400, 600, 0, 2000, "0.0056", share="0.4545")
    tess_s4 = totals(2, 1, 100, 20, 0, 0, "0.0002")
    harbour_s1_s2 = totals(8, 4, 2700, 500, 1000, 1000, "0.00955", share="0.2128")
    free_s3_s4 = totals(4, 2, 3100, 420, 0, 0, "0.0052")
    return {
        "DAY": {
            str(day(1)): (str(day(1)), 2, totals(6, 3, 1700, 400, 1000, 1000, "0.00505", "0.2703")),
            str(day(2)): (str(day(2)), 1, totals(4, 2, 3000, 500, 0, 0, "0.0085")),
            str(day(3)): (str(day(3)), 2, totals(4, 2, 3100, 420, 0, 0, "0.0052")),
            str(day(4)): (str(day(4)), 0, totals(2, 1, 400, 200, 0, 2000, "0.0016", "0.8333")),
        },
        "MODEL": {
            "claude-haiku-4-5": (
                "claude-haiku-4-5",
                5,
                totals(16, 7, 7200, 1420, 1000, 3000, "0.01585", share="0.2679"),
            ),
            SONNET: (SONNET, 0, totals(0, 1, 1000, 100, 0, 0, "0.0045")),
        },
        "STUDENT": {
            str(w.ada.id): ("Ada", 2, ada_s1_s3),
            str(w.ben.id): ("Ben", 1, ben_s2),
            str(w.cy.id): ("Cy", 1, cy_s5),
            str(w.tess.id): ("Tess", 1, tess_s4),
        },
        "SECTION": {
            str(w.harbour.id): ("Harbour", 2, harbour_s1_s2),
            str(w.ridge.id): ("Ridge", 1, cy_s5),
            "none": ("No section", 2, free_s3_s4),
        },
        "ASSIGNMENT": {
            str(w.harbour_intake.id): ("Harbour intake", 2, harbour_s1_s2),
            str(w.ridge_intake.id): ("Ridge intake", 1, cy_s5),
            "none": ("No assignment", 2, free_s3_s4),
        },
        "CLIENT": {
            str(w.sessions["s1"].client_profile_id): (
                "Jordan",
                4,
                totals(12, 6, 5800, 920, 1000, 1000, "0.01475", share="0.1282"),
            ),
            str(w.sessions["s5"].client_profile_id): ("Morgan", 1, cy_s5),
        },
    }


@pytest.mark.parametrize("group_by", ["DAY", "MODEL", "STUDENT", "SECTION", "ASSIGNMENT", "CLIENT"])
async def test_admin_usage_by_each_grouping(world, gql, settings, group_by):
    answer = await ask(gql, settings, world.admin, USAGE, range=WEEK, by=group_by)
    assert buckets(answer) == admin_buckets(world)[group_by]


@pytest.mark.parametrize(
    ("group_by", "labels"),
    [
        ("DAY", [str(day(n)) for n in (1, 2, 3, 4)]),
        ("STUDENT", ["Ada", "Ben", "Cy", "Tess"]),
        ("SECTION", ["Harbour", "Ridge", "No section"]),
        ("ASSIGNMENT", ["Harbour intake", "Ridge intake", "No assignment"]),
    ],
)
async def test_usage_buckets_come_in_order_of_their_labels(world, gql, settings, group_by, labels):
    answer = await ask(gql, settings, world.admin, USAGE, range=WEEK, by=group_by)
    assert [b["label"] for b in answer] == labels


def tess_buckets(w: World) -> dict[str, dict]:
    s2 = totals(4, 2, 1500, 200, 1000, 0, "0.00675")
    s4 = totals(2, 1, 100, 20, 0, 0, "0.0002")
    s3_and_s4 = totals(4, 2, 3100, 420, 0, 0, "0.0052")  # s3: Ada's practice with Jordan
    harbour = totals(8, 4, 2700, 500, 1000, 1000, "0.00955", share="0.2128")
    return {
        "DAY": {
            str(day(1)): (str(day(1)), 2, totals(6, 3, 1700, 400, 1000, 1000, "0.00505", "0.2703")),
            str(day(2)): (str(day(2)), 0, totals(2, 1, 1000, 100, 0, 0, "0.0045")),
            str(day(3)): (str(day(3)), 2, s3_and_s4),
        },
        "MODEL": {
            "claude-haiku-4-5": (
                "claude-haiku-4-5",
                4,
                totals(12, 5, 4800, 820, 1000, 1000, "0.01025", share="0.1471"),
            ),
            SONNET: (SONNET, 0, totals(0, 1, 1000, 100, 0, 0, "0.0045")),
        },
        "STUDENT": {
            # s1 (4, 2, 1200, 300, 0, 1000, $0.0028) and s3 (2, 1, 3000, 400, 0, 0, $0.005)
            str(w.ada.id): ("Ada", 2, totals(6, 3, 4200, 700, 0, 1000, "0.0078", share="0.1923")),
            str(w.ben.id): ("Ben", 1, s2),
            str(w.tess.id): ("Tess", 1, s4),
        },
        "SECTION": {
            str(w.harbour.id): ("Harbour", 2, harbour),
            "none": ("No section", 2, s3_and_s4),
        },
        "ASSIGNMENT": {
            str(w.harbour_intake.id): ("Harbour intake", 2, harbour),
            "none": ("No assignment", 2, s3_and_s4),
        },
        "CLIENT": {
            str(w.sessions["s1"].client_profile_id): (
                "Jordan",
                4,
                totals(12, 6, 5800, 920, 1000, 1000, "0.01475", share="0.1282"),
            ),
        },
    }


@pytest.mark.parametrize("group_by", ["DAY", "MODEL", "STUDENT", "SECTION", "ASSIGNMENT", "CLIENT"])
async def test_teacher_usage_by_each_grouping_covers_only_their_sessions(
    world, gql, settings, group_by
):
    tess = await ask(gql, settings, world.tess, USAGE, range=WEEK, by=group_by)
    assert buckets(tess) == tess_buckets(world)[group_by]
    theo = await ask(gql, settings, world.theo, USAGE, range=WEEK, by=group_by)
    assert sum(b["sessions"] for b in theo) == 1  # s5 only
    assert sum(int(b["totals"]["messages"]) for b in theo) == 4


# dailyStats


def stat(n: int, created=0, messages=0, tokens=0, cost="0", errors=0) -> dict:
    return {
        "day": str(day(n)),
        "sessionsCreated": created,
        "messagesStored": messages,
        "tokensUsed": tokens,
        "cost": cost,
        "errors": errors,
    }


async def test_admin_daily_stats_list_every_day_quiet_ones_too(world, gql, settings):
    stats = await ask(gql, settings, world.admin, DAILY, range=WEEK)
    assert stats == [
        stat(0),  # "before" ended and "late" was rated: nothing created, stored or used
        stat(1, created=2, messages=6, tokens=4100, cost="0.00505", errors=1),
        stat(2, created=1, messages=4, tokens=3500, cost="0.0085", errors=2),
        stat(3, created=2, messages=4, tokens=3520, cost="0.0052", errors=1),
        stat(4, messages=2, tokens=2600, cost="0.0016"),
        stat(5, created=1),
        stat(6, errors=1),
    ]


async def test_teacher_daily_stats_leave_out_other_sessions_and_their_errors(world, gql, settings):
    stats = await ask(gql, settings, world.tess, DAILY, range=WEEK)
    assert stats == [
        stat(0),
        stat(1, created=2, messages=6, tokens=4100, cost="0.00505", errors=1),
        stat(2, messages=2, tokens=1100, cost="0.0045", errors=1),  # s2's Sonnet call
        stat(3, created=2, messages=4, tokens=3520, cost="0.0052"),  # s3 and s4; not the webhook
        stat(4),
        stat(5),
        stat(6, errors=1),  # the timeout in Ada's free practice with Tess's client
    ]


async def test_a_single_day_range_has_one_row(world, gql, settings):
    one_day = {"start": str(day(3)), "end": str(day(3))}
    stats = await ask(gql, settings, world.theo, DAILY, range=one_day)
    assert stats == [stat(3)]


# clientFeedback


async def test_feedback_per_client_with_average_and_share_of_four_or_five(world, gql, settings):
    admin = await ask(gql, settings, world.admin, FEEDBACK, range=WEEK)
    mine = [f for f in admin if f["clientName"] in ("Jordan", "Morgan")]
    assert mine == [
        # late 5, before 4, s1 5, s2 3, s4 1 (not "after": rated on D7)
        {"clientName": "Jordan", "ratings": 5, "averageRating": "3.60", "positiveShare": "0.6000"},
        {"clientName": "Morgan", "ratings": 1, "averageRating": "2.00", "positiveShare": "0.0000"},
    ]
    tess = await ask(gql, settings, world.tess, FEEDBACK, range=WEEK)
    assert tess == [  # "late", Ben's free practice, was with Tess's client too
        {"clientName": "Jordan", "ratings": 5, "averageRating": "3.60", "positiveShare": "0.6000"}
    ]
    theo = await ask(gql, settings, world.theo, FEEDBACK, range=WEEK)
    assert [(f["clientName"], f["ratings"]) for f in theo] == [("Morgan", 1)]


# errorEvents


def in_week(**more) -> dict:
    return {"since": f"{day(0)}T00:00:00+00:00", "until": f"{day(7)}T00:00:00+00:00", **more}


async def error_names(world, gql, settings, user: User, **variables) -> list[str]:
    names = {event_id: name for name, event_id in world.errors.items()}
    answer = await ask(gql, settings, user, ERRORS, **variables)
    return [names.get(node["id"], node["category"]) for node in answer["nodes"]]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({}, ["timeout", "webhook", "rate_limited", "server", "overloaded"]),
        ({"category": "provider"}, ["timeout", "rate_limited", "server", "overloaded"]),
        ({"category": "provider."}, ["timeout", "rate_limited", "server", "overloaded"]),
        ({"category": "provider.server"}, ["server"]),
        ({"category": "prov"}, []),  # a prefix of a word is not a category
        ({"category": "webhook"}, ["webhook"]),
        ({"until": f"{day(2)}T08:05:00+00:00"}, ["server", "overloaded"]),  # until: before
        ({"since": f"{day(2)}T08:05:00+00:00"}, ["timeout", "webhook", "rate_limited"]),
    ],
    ids=["all", "provider", "provider.", "exact", "word prefix", "webhook", "until", "since"],
)
async def test_admin_filters_error_events_newest_first(world, gql, settings, filter, expected):
    found = await error_names(world, gql, settings, world.admin, filter=in_week(**filter))
    assert found == expected


async def test_error_events_of_one_session(world, gql, settings):
    s2 = str(world.sessions["s2"].id)
    assert await error_names(world, gql, settings, world.admin, filter={"sessionId": s2}) == [
        "server"
    ]


async def test_error_events_come_in_pages_newest_first(world, gql, settings):
    pages, after = [], None
    while True:
        answer = await ask(
            gql, settings, world.admin, ERRORS, filter=in_week(), first=2, after=after
        )
        names = {event_id: name for name, event_id in world.errors.items()}
        pages.append([names[node["id"]] for node in answer["nodes"]])
        if not answer["pageInfo"]["hasNextPage"]:
            break
        after = answer["pageInfo"]["endCursor"]
    assert pages == [["timeout", "webhook"], ["rate_limited", "server"], ["overloaded"]]


async def test_teachers_see_only_the_errors_of_their_sessions(world, gql, settings):
    tess = await error_names(world, gql, settings, world.tess)
    # s3's too (Ada's practice with Tess's client); not s5's or the webhook's
    assert tess == ["connection", "timeout", "server", "overloaded"]
    theo = await error_names(world, gql, settings, world.theo)
    assert theo == ["rate_limited"]
    no_webhooks = await error_names(
        world, gql, settings, world.tess, filter={"category": "webhook"}
    )
    assert no_webhooks == []


async def test_error_events_refuse_a_time_without_a_zone(world, gql, settings):
    naive = {"since": f"{day(6)}T00:00:00", "until": f"{day(7)}T00:00:00Z"}
    refused = await refusal(gql, settings, world.admin, ERRORS, filter=naive)
    assert refused["code"] == "BAD_USER_INPUT"
    assert [problem["field"] for problem in refused["fields"]] == ["since"]


# Who may ask

ALL_QUERIES = {
    "usageSummary": (SUMMARY, {"range": WEEK}),
    "usage by student": (USAGE, {"range": WEEK, "by": "STUDENT"}),
    "usage by day": (USAGE, {"range": WEEK, "by": "DAY"}),
    "dailyStats": (DAILY, {"range": WEEK}),
    "clientFeedback": (FEEDBACK, {"range": WEEK}),
    "errorEvents": (ERRORS, {}),
}


@pytest.mark.parametrize(("query", "variables"), ALL_QUERIES.values(), ids=ALL_QUERIES.keys())
async def test_students_may_not_see_usage_analytics(world, gql, settings, query, variables):
    refused = await refusal(gql, settings, world.ada, query, **variables)
    assert refused["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("query", "variables"), ALL_QUERIES.values(), ids=ALL_QUERIES.keys())
async def test_analytics_need_a_login(gql, query, variables):
    error = await gql.error(query, variables)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# Bad input

RANGE_QUERIES = {"usageSummary": SUMMARY, "dailyStats": DAILY, "clientFeedback": FEEDBACK}
BAD_RANGES = {
    "ends before it starts": ({"start": str(day(3)), "end": str(day(2))}, "ends before it starts"),
    "401 days": ({"start": "2030-01-01", "end": "2031-02-05"}, "at most 400"),
    "ends on the last day there is": (
        {"start": "9999-12-01", "end": "9999-12-31"},
        "must end before",
    ),
}


@pytest.mark.parametrize("query", RANGE_QUERIES.values(), ids=RANGE_QUERIES.keys())
@pytest.mark.parametrize(("range", "says"), BAD_RANGES.values(), ids=BAD_RANGES.keys())
async def test_a_bad_range_is_refused_naming_the_range(world, gql, settings, query, range, says):
    refused = await refusal(gql, settings, world.admin, query, range=range)
    assert refused["code"] == "BAD_USER_INPUT"
    [problem] = refused["fields"]
    assert problem["field"] == "range" and says in problem["message"]


async def test_usage_refuses_a_bad_range_too(world, gql, settings):
    backwards = {"start": str(day(3)), "end": str(day(2))}
    refused = await refusal(gql, settings, world.tess, USAGE, range=backwards, by="DAY")
    assert (refused["code"], refused["fields"][0]["field"]) == ("BAD_USER_INPUT", "range")


async def test_a_range_of_exactly_the_maximum_is_fine(world, gql, settings):
    longest = {"start": "2030-01-01", "end": "2031-02-04"}  # 400 days, both ends included
    stats = await ask(gql, settings, world.theo, DAILY, range=longest)
    assert len(stats) == settings.max_range_days == 400


@pytest.mark.parametrize("bad", ["2031-02-30", "next tuesday", "2031-3-3"])
async def test_a_date_that_is_no_date_is_refused(world, gql, settings, bad):
    refused = await gql.error(
        SUMMARY, {"range": {"start": bad, "end": str(day(6))}}, token_for(settings, world.admin)
    )
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert "$range" in refused["message"] and ".start" in refused["message"]
    assert bad in refused["message"]


async def test_an_unknown_grouping_is_refused(world, gql, settings):
    error = await gql.error(
        USAGE, {"range": WEEK, "by": "WEEKDAY"}, token_for(settings, world.admin)
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WEEKDAY" in error["message"] and "UsageGroupBy" in error["message"]


async def test_an_unknown_grouping_written_inline_is_refused(world, gql, settings):
    query = '{ usage(range: {start: "2031-03-03", end: "2031-03-09"}, groupBy: WEEK) { key } }'
    error = await gql.error(query, token=token_for(settings, world.admin))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WEEK" in error["message"]


# Teachers' own test conversations


async def test_a_teachers_own_conversation_is_marked_as_a_test(world, gql, settings):
    query = "query($id: ID!) { session(id: $id) { isTest student { name } } }"
    token = token_for(settings, world.admin)
    for name, is_test in [("s4", True), ("s1", False), ("s5", False)]:
        data = await gql.ok(query, {"id": str(world.sessions[name].id)}, token)
        assert data["session"]["isTest"] is is_test, name


async def test_student_figures_leave_teachers_test_conversations_out_unless_asked(
    world, gql, settings
):
    by_student = await ask(gql, settings, world.admin, USAGE, range=WEEK, by="STUDENT", tests=False)
    assert [b["label"] for b in by_student] == ["Ada", "Ben", "Cy"]  # not Tess, a teacher

    with_tests = await ask(gql, settings, world.admin, SUMMARY, range=WEEK)
    summary = await ask(gql, settings, world.admin, SUMMARY, range=WEEK, tests=False)
    assert with_tests["sessions"] - summary["sessions"] == 1  # s4
    assert with_tests["completedSessions"] - summary["completedSessions"] == 1
    # Less s4's 2 messages, 1 call, 100 in, 20 out, $0.0002
    assert summary["totals"] == totals(14, 7, 8100, 1500, 1000, 3000, "0.02015", share="0.2479")

    days = await ask(gql, settings, world.admin, DAILY, range=WEEK, tests=False)
    days_with_tests = await ask(gql, settings, world.admin, DAILY, range=WEEK)
    d3, d3_with_s4 = days[3], days_with_tests[3]
    assert d3_with_s4["sessionsCreated"] - d3["sessionsCreated"] == 1
    assert (d3_with_s4["tokensUsed"] - d3["tokensUsed"], d3["errors"]) == (
        120,
        d3_with_s4["errors"],
    )
    assert [d for i, d in enumerate(days) if i != 3] == [
        d for i, d in enumerate(days_with_tests) if i != 3
    ]

    # A teacher's own figures: her section's students and her client's practice, without
    # her own test conversation.
    tess = await ask(gql, settings, world.tess, SUMMARY, range=WEEK, tests=False)
    assert tess["sessions"] == 3  # s1, s2 in Harbour; s3, Ada's free practice with Jordan
    assert tess["totals"]["messages"] == 10
