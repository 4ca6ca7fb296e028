"""The teacher's section view of sessions: filters, sorts, lengths (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from api.accounts.models import Role
from api.classes import service as classes
from api.conversations import service as conversations
from tests.api.test_authorization import token_for
from tests.factories.accounts import actor, make_user
from tests.factories.classes import make_assignment
from tests.factories.conversations import end, say
from tests.factories.world import make_world

LIST = """query($filter: SessionFilter, $sort: SessionSort, $first: Int, $after: String) {
  sessions(filter: $filter, sort: $sort, first: $first, after: $after) {
    nodes { id messageCount estimatedCost durationSeconds student { id } assignment { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _practise(db, settings, world, student, lines, cost, minutes, assignment=None):
    conversation, _ = await conversations.start_session(
        db,
        actor(student),
        settings,
        world.profile.id,
        assignment_id=(assignment or world.assignment).id,
    )
    for n in range(lines):
        await say(db, conversation, f"Line {n}", f"Answer {n}")
    conversation.estimated_cost = Decimal(cost)
    conversation.started_at = conversation.started_at - timedelta(minutes=minutes)
    await end(db, conversation)
    return conversation


async def _all(gql, token, **variables) -> list[dict]:
    nodes, after = [], None
    while True:
        page = (await gql.ok(LIST, {**variables, "first": 2, "after": after}, token))["sessions"]
        nodes += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_teacher_filters_and_sorts_their_section_sessions(db, settings, gql):
    world = await make_world(db, settings)
    second = await make_user(db, Role.STUDENT)
    await classes.join_section(db, actor(second), world.section.join_code)
    await db.commit()
    other = await make_assignment(db, settings, world.teacher, world.section, world.profile)
    short = await _practise(db, settings, world, world.student, 1, "0.0010", 3)
    long = await _practise(db, settings, world, world.student, 4, "0.0300", 20)
    theirs = await _practise(db, settings, world, second, 2, "0.0050", 7, other)
    token = token_for(settings, world.teacher)

    by_messages = await _all(gql, token, sort="MOST_MESSAGES")
    by_cost = await _all(gql, token, sort="LOWEST_COST")
    of_first = await _all(gql, token, filter={"studentId": str(world.student.id)})
    of_other = await _all(gql, token, filter={"assignmentId": str(other.id)})
    of_section = await _all(gql, token, filter={"sectionId": str(world.section.id)})

    assert [n["id"] for n in by_messages] == [str(long.id), str(theirs.id), str(short.id)]
    assert [n["messageCount"] for n in by_messages] == [8, 4, 2]
    assert [n["id"] for n in by_cost] == [str(short.id), str(theirs.id), str(long.id)]
    assert {n["id"] for n in of_first} == {str(short.id), str(long.id)}
    assert [n["id"] for n in of_other] == [str(theirs.id)]
    assert of_other[0]["assignment"]["id"] == str(other.id)
    assert len(of_section) == 3
    durations = {n["id"]: n["durationSeconds"] for n in by_messages}
    assert 20 * 60 <= durations[str(long.id)] < 20 * 60 + 30
    assert 3 * 60 <= durations[str(short.id)] < 3 * 60 + 30


async def test_another_teacher_sees_none_of_the_section_through_filters(db, settings, gql):
    world = await make_world(db, settings)
    stranger = await make_world(db, settings)
    await _practise(db, settings, world, world.student, 1, "0.001", 1)

    seen = await _all(
        gql,
        token_for(settings, stranger.teacher),
        filter={"sectionId": str(world.section.id), "assignmentId": str(world.assignment.id)},
        sort="HIGHEST_COST",
    )

    assert seen == []


async def test_admin_sees_every_section(db, settings, gql):
    first, second = await make_world(db, settings), await make_world(db, settings)
    a = await _practise(db, settings, first, first.student, 1, "0.001", 1)
    b = await _practise(db, settings, second, second.student, 1, "0.001", 1)
    admin = await make_user(db, Role.ADMIN)

    seen = {
        n["id"]
        for section in (first.section, second.section)
        for n in await _all(gql, token_for(settings, admin), filter={"sectionId": str(section.id)})
    }

    assert seen == {str(a.id), str(b.id)}


async def test_a_bad_cost_cursor_is_refused_by_field(db, settings, gql):
    world = await make_world(db, settings)
    error = await gql.error(
        LIST,
        {"sort": "HIGHEST_COST", "after": "WyJub3QtYS1udW1iZXIiLCAieCJd"},
        token_for(settings, world.teacher),
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
