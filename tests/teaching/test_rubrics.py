"""Rubrics through GraphQL: validation by field, versions, publishing, attaching, who sees
what; and feedback reaching a session through the API (offline evaluator: no key)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from api.accounts.models import Role
from api.audit.models import AuditEntry
from api.conversations import service as conversations
from api.teaching.models import Evaluation, EvaluationStatus, RubricVersion
from tests.factories.accounts import actor, make_user
from tests.factories.conversations import say
from tests.factories.teaching import make_rubric
from tests.factories.usage import token_for
from tests.factories.world import make_world

RUBRIC_FIELDS = """rubric { id name status version criteria { key name weight levels { level
    descriptor } } }"""
CREATE = f"mutation($input: RubricInput!) {{ createRubric(input: $input) {{ {RUBRIC_FIELDS} }} }}"
UPDATE = f"""mutation($id: ID!, $input: RubricInput!) {{ updateRubric(id: $id, input: $input)
    {{ newVersion {RUBRIC_FIELDS} }} }}"""
PUBLISH = "mutation($id: ID!) { publishRubric(id: $id) { rubric { id status publishedAt } } }"
ATTACH = """mutation($a: ID!, $r: ID) { setAssignmentRubric(assignmentId: $a, rubricId: $r)
    { assignment { id rubric { id name } } } }"""
EVALUATE = """mutation($id: ID!, $r: ID) { evaluateSession(sessionId: $id, rubricId: $r)
    { evaluation { id status evaluator advisory } } }"""
FEEDBACK = """query($id: ID!) { session(id: $id) { id
    measures { studentMessages openQuestions closedQuestions reflections talkShare
               meanStudentMessageWords medianTurnGapSeconds }
    evaluation { status evaluator model advisory rubricName overallScore nextSteps strengths
      rubricVersion { version }
      scores { criterionKey criterionName level maxLevel justification
               evidence { sequenceNumber quote } } } } }"""


def level(n: int, text: str = "") -> dict:
    return {"level": n, "descriptor": text or f"Level {n} looks like this."}


def criterion(name: str, weight="1", levels=None) -> dict:
    return {
        "name": name,
        "description": f"How the student shows {name.lower()}.",
        "weight": weight,
        "levels": levels if levels is not None else [level(n) for n in (1, 2, 3, 4)],
    }


def rubric_input(*criteria: dict, name: str = "Listening") -> dict:
    return {"name": name, "criteria": list(criteria or [criterion("Open questions")])}


def problems(error: dict) -> dict[str, str]:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return {p["field"]: p["message"] for p in error["extensions"]["fields"]}


@pytest.fixture
async def teacher(db):
    return await make_user(db, Role.TEACHER)


async def test_a_teacher_builds_a_rubric_with_levels_and_weights(gql, settings, teacher):
    data = await gql.ok(
        CREATE,
        {"input": rubric_input(criterion("Open questions", "1.5"), criterion("Reflections"))},
        token_for(settings, teacher),
    )
    rubric = data["createRubric"]["rubric"]
    assert (rubric["status"], rubric["version"]) == ("DRAFT", 1)
    assert [(c["key"], c["weight"]) for c in rubric["criteria"]] == [
        ("open_questions", "1.5"),
        ("reflections", "1"),
    ]
    assert [lv["level"] for lv in rubric["criteria"][0]["levels"]] == [1, 2, 3, 4]


INVALID = {
    "no criteria": (rubric_input(), {"criteria": "at least one criterion"}, []),
    "zero weight": ({}, {"criteria.0.weight": "positive"}, [criterion("A", "0")]),
    "negative weight": ({}, {"criteria.0.weight": "positive"}, [criterion("A", "-1")]),
    "too fine a weight": ({}, {"criteria.0.weight": "decimal places"}, [criterion("A", "0.0001")]),
    "level out of range": (
        {},
        {"criteria.0.levels.1.level": "between 0 and 10"},
        [criterion("A", levels=[level(1), level(11)])],
    ),
    "duplicate level": (
        {},
        {"criteria.0.levels.1.level": "appears twice"},
        [criterion("A", levels=[level(2), level(2)])],
    ),
    "unordered levels": (
        {},
        {"criteria.0.levels.1.level": "lowest to highest"},
        [criterion("A", levels=[level(3), level(1)])],
    ),
    "one level": ({}, {"criteria.0.levels": "2 to 10 levels"}, [criterion("A", levels=[level(1)])]),
    "empty descriptor": (
        {},
        {"criteria.0.levels.0.descriptor": "cannot be empty"},
        [criterion("A", levels=[{"level": 1, "descriptor": "  "}, level(2)])],
    ),
    "same name twice": ({}, {"criteria.1.name": "Two criteria"}, [criterion("A"), criterion("a")]),
}


@pytest.mark.parametrize("case", INVALID)
async def test_a_rubric_that_does_not_hold_together_is_refused_by_field(
    gql, db, settings, teacher, case
):
    given, expected, criteria = INVALID[case]
    data = given or rubric_input(*criteria)
    if case == "no criteria":
        data = {"name": "Empty", "criteria": []}
    error = await gql.error(CREATE, {"input": data}, token_for(settings, teacher))
    found = problems(error)
    assert found.keys() == expected.keys(), found
    for field, words in expected.items():
        assert words in found[field]
    owned = await db.scalar(
        select(RubricVersion.id).limit(1).where(RubricVersion.created_by_id == teacher.id)
    )
    assert owned is None  # nothing was stored


async def test_every_problem_is_named_at_once(gql, settings, teacher):
    bad = {"name": "", "criteria": [criterion("", "NaN", levels=[level(5), level(5)])]}
    error = await gql.error(CREATE, {"input": bad}, token_for(settings, teacher))
    assert set(problems(error)) == {
        "name",
        "criteria.0.name",
        "criteria.0.weight",
        "criteria.0.levels.1.level",
    }


async def test_editing_an_evaluated_rubric_makes_a_new_version(gql, db, settings, runtime):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)
    rubric = await make_rubric(db, world.teacher, "Open questions", attach_to=world.assignment)
    # Unevaluated: edited in place.
    edited = await gql.ok(
        UPDATE,
        {"id": str(rubric.id), "input": rubric_input(criterion("Open questions", "2"))},
        token,
    )
    assert edited["updateRubric"]["newVersion"] is False
    assert edited["updateRubric"]["rubric"]["version"] == 1
    # Evaluated (offline, on ending a session), then edited: a new version.
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    await db.commit()
    await say(db, conversation, "What brings you here?", "I can't sleep.")
    await conversations.end_session(
        db, actor(world.student), runtime.replies, conversation.id, feedback=runtime.evaluations
    )
    await db.commit()
    await runtime.evaluations.wait_idle()
    changed = rubric_input(criterion("Open questions", "2"), criterion("Empathy"))
    again = await gql.ok(UPDATE, {"id": str(rubric.id), "input": changed}, token)

    assert again["updateRubric"]["newVersion"] is True
    assert again["updateRubric"]["rubric"]["version"] == 2
    assert [c["key"] for c in again["updateRubric"]["rubric"]["criteria"]] == [
        "open_questions",
        "empathy",
    ]
    feedback = await gql.ok(FEEDBACK, {"id": str(conversation.id)}, token)
    evaluation = feedback["session"]["evaluation"]
    assert evaluation["rubricVersion"] == {"version": 1}  # the old evaluation keeps its own
    assert [s["criterionKey"] for s in evaluation["scores"]] == ["open_questions"]
    assert evaluation["scores"][0]["criterionName"] == "Open questions"


async def test_publishing_and_attaching_are_audited_and_a_draft_cannot_be_attached(
    gql, db, settings
):
    world = await make_world(db, settings)
    token = token_for(settings, world.teacher)
    created = await gql.ok(CREATE, {"input": rubric_input()}, token)
    rubric_id = created["createRubric"]["rubric"]["id"]
    variables = {"a": str(world.assignment.id), "r": rubric_id}

    refused = await gql.error(ATTACH, variables, token)
    assert refused["extensions"]["code"] == "CONFLICT"
    published = await gql.ok(PUBLISH, {"id": rubric_id}, token)
    assert published["publishRubric"]["rubric"]["status"] == "PUBLISHED"
    attached = await gql.ok(ATTACH, variables, token)
    assert attached["setAssignmentRubric"]["assignment"]["rubric"]["id"] == rubric_id
    # One rubric, many assignments.
    second = await gql.ok(
        """mutation($s: ID!, $c: ID!) { createAssignment(input: {sectionId: $s, title: "Two",
           clientProfileIds: [$c]}) { assignment { id } } }""",
        {"s": str(world.section.id), "c": str(world.profile.id)},
        token,
    )
    other = second["createAssignment"]["assignment"]["id"]
    await gql.ok(ATTACH, {"a": other, "r": rubric_id}, token)

    entries = list(
        await db.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_id == world.teacher.id)
            .order_by(AuditEntry.at)
        )
    )
    await db.commit()
    actions = [
        (e.action, e.target_id)
        for e in entries
        if e.action.startswith(("rubric", "assignment.rubric"))
    ]
    assert actions == [
        ("rubric.publish", rubric_id),
        ("assignment.rubric_set", str(world.assignment.id)),
        ("assignment.rubric_set", other),
    ]


async def test_students_see_no_rubrics_and_teachers_only_their_own(gql, db, settings):
    world = await make_world(db, settings)
    other = await make_user(db, Role.TEACHER)
    mine = await make_rubric(db, world.teacher, "Open questions", attach_to=world.assignment)
    theirs = await make_rubric(db, other, "Reflections")
    listing = "{ rubrics { nodes { id } } }"

    def ids(data):
        return {n["id"] for n in data["rubrics"]["nodes"]}

    assert ids(await gql.ok(listing, token=token_for(settings, world.student))) == set()
    seen = ids(await gql.ok(listing, token=token_for(settings, world.teacher)))
    assert str(mine.id) in seen and str(theirs.id) not in seen
    error = await gql.error(
        "query($id: ID!) { rubric(id: $id) { id } }",
        {"id": str(theirs.id)},
        token_for(settings, world.teacher),
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    # The student's assignment does not reveal its rubric either.
    data = await gql.ok(
        "query($id: ID!) { assignment(id: $id) { rubric { id } } }",
        {"id": str(world.assignment.id)},
        token_for(settings, world.student),
    )
    assert data["assignment"]["rubric"] is None
    # Attaching someone else's rubric names the field, as if it did not exist.
    refused = await gql.error(
        ATTACH,
        {"a": str(world.assignment.id), "r": str(theirs.id)},
        token_for(settings, world.teacher),
    )
    missing = await gql.error(
        ATTACH,
        {"a": str(world.assignment.id), "r": str(uuid.uuid4())},
        token_for(settings, world.teacher),
    )
    assert (
        problems(refused)
        == problems(missing)
        == {"rubricId": "Rubric was not found, or you do not have access to it."}
    )


async def test_ending_a_session_through_the_api_brings_offline_feedback(gql, db, settings):
    world = await make_world(db, settings)
    await make_rubric(
        db, world.teacher, "Open questions", "Reflections", attach_to=world.assignment
    )
    student, teacher = token_for(settings, world.student), token_for(settings, world.teacher)
    started = await gql.ok(
        "mutation($c: ID!) { startSession(clientId: $c) { session { id } } }",
        {"c": str(world.profile.id)},
        student,
    )
    session_id = started["startSession"]["session"]["id"]
    conversation = await db.get(conversations.Session, uuid.UUID(session_id))
    await say(db, conversation, "What brings you here today?", "I feel lost since I moved.")
    await say(db, conversation, "It sounds like the move has been hard.", "It really has.")

    ended = await gql.ok(
        "mutation($id: ID!) { endSession(sessionId: $id) { session { status } } }",
        {"id": session_id},
        student,
    )
    assert ended["endSession"]["session"]["status"] == "COMPLETED"
    await gql.runtime.evaluations.wait_idle()

    seen = (await gql.ok(FEEDBACK, {"id": session_id}, teacher))["session"]
    evaluation = seen["evaluation"]
    assert (evaluation["status"], evaluation["evaluator"], evaluation["model"]) == (
        "COMPLETED",
        "OFFLINE",
        None,
    )
    assert evaluation["advisory"] is True
    assert [s["criterionKey"] for s in evaluation["scores"]] == ["open_questions", "reflections"]
    assert evaluation["scores"][1]["evidence"] == [
        {"sequenceNumber": 3, "quote": "It sounds like the move has been hard."}
    ]
    assert 0 <= float(evaluation["overallScore"]) <= 1
    assert seen["measures"]["openQuestions"] == 1
    assert seen["measures"]["reflections"] == 1
    assert seen["measures"]["talkShare"] is not None
    # The student sees the measures, but not feedback nobody has released.
    mine = (await gql.ok(FEEDBACK, {"id": session_id}, student))["session"]
    assert mine["measures"] == seen["measures"]
    assert mine["evaluation"] is None
    # Asked for again by the teacher, it runs again.
    again = await gql.ok(EVALUATE, {"id": session_id}, teacher)
    assert again["evaluateSession"]["evaluation"]["status"] == "QUEUED"
    await gql.runtime.evaluations.wait_idle()
    async with gql.runtime.sessions() as fresh:
        statuses = list(
            await fresh.scalars(
                select(Evaluation.status).where(Evaluation.session_id == uuid.UUID(session_id))
            )
        )
    assert statuses == [EvaluationStatus.COMPLETED] * 2


async def test_an_active_session_is_refused_with_conflict(gql, db, settings):
    world = await make_world(db, settings)
    rubric = await make_rubric(db, world.teacher, "Open questions", attach_to=world.assignment)
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    await db.commit()
    error = await gql.error(
        EVALUATE,
        {"id": str(conversation.id), "r": str(rubric.id)},
        token_for(settings, world.teacher),
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert "still going on" in error["message"]
    await asyncio.sleep(0)
