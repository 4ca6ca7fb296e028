"""A teacher reviews a session's feedback (adjusts levels, comments, releases) and who sees
what: students only released feedback on their own sessions, teachers only their sections,
admins all. SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from api.accounts.models import Role
from api.conversations import service as conversations
from api.conversations.models import Message, Session
from api.teaching.models import CriterionScore, Evaluation
from tests.api.test_authorization import token_for
from tests.factories.accounts import actor, make_user
from tests.factories.conversations import end, say
from tests.factories.review import NEXT_STEP, STRENGTH, Evaluated, evaluate
from tests.factories.world import World, make_world

QUESTION = "What has been the hardest part of this week?"

FEEDBACK = """query($id: ID!) { session(id: $id) {
  evaluation { id releasedAt overallScore strengths nextSteps
    scores { criterionKey level evaluatorLevel adjustedLevel adjustedBy { id } maxLevel
             evidence { sequenceNumber quote } } }
  reviewComments { body messageId author { id } }
} }"""
ADJUST = """mutation($id: ID!, $key: String!, $level: Int) {
  adjustCriterionLevel(evaluationId: $id, criterionKey: $key, level: $level) {
    evaluation { overallScore scores { criterionKey level evaluatorLevel adjustedLevel
                                       adjustedBy { id } adjustedAt } }
  } }"""
RELEASE = """mutation($id: ID!, $released: Boolean!) {
  releaseFeedback(evaluationId: $id, released: $released) { evaluation { id releasedAt } } }"""
COMMENT = """mutation($input: AddReviewCommentInput!) {
  addReviewComment(input: $input) { comment { id body messageId author { id } } } }"""


@dataclass
class Reviewed:
    world: World
    session: Session
    evaluated: Evaluated
    question: Message

    @property
    def evaluation_id(self) -> str:
        return str(self.evaluated.evaluation.id)


async def reviewed(db, settings, *, released: bool = False) -> Reviewed:
    world = await make_world(db, settings)
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    question, _ = await say(db, conversation, QUESTION, "Probably the nights.")
    await end(db, conversation)
    evaluated = await evaluate(
        db,
        conversation,
        world.teacher,
        quote=(question.sequence_number, "hardest part"),
        released=released,
    )
    return Reviewed(world, conversation, evaluated, question)


async def test_teacher_adjusts_a_level_beside_the_evaluators(db, settings, gql):
    r = await reviewed(db, settings)
    teacher = token_for(settings, r.world.teacher)

    data = await gql.ok(
        ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": 4}, teacher
    )

    scores = {s["criterionKey"]: s for s in data["adjustCriterionLevel"]["evaluation"]["scores"]}
    adjusted = scores["open_questions"]
    assert (adjusted["level"], adjusted["evaluatorLevel"], adjusted["adjustedLevel"]) == (4, 2, 4)
    assert adjusted["adjustedBy"] == {"id": str(r.world.teacher.id)}
    assert adjusted["adjustedAt"]
    assert scores["reflections"]["adjustedLevel"] is None
    # Weights 2 and 1, levels 1..4: (2*3/3 + 1*2/3) / 3 = 0.889 of the way up.
    assert data["adjustCriterionLevel"]["evaluation"]["overallScore"] == "0.889"
    stored = (
        await db.execute(
            select(
                CriterionScore.level, CriterionScore.adjusted_level, CriterionScore.adjusted_by_id
            ).where(
                CriterionScore.evaluation_id == r.evaluated.evaluation.id,
                CriterionScore.criterion_key == "open_questions",
            )
        )
    ).one()
    await db.commit()
    assert tuple(stored) == (2, 4, r.world.teacher.id)

    back = await gql.ok(
        ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": None}, teacher
    )
    first = back["adjustCriterionLevel"]["evaluation"]["scores"][0]
    assert (first["level"], first["adjustedLevel"], first["adjustedBy"]) == (2, None, None)


async def test_a_level_outside_the_rubric_or_an_unknown_criterion_is_refused_by_field(
    db, settings, gql
):
    r = await reviewed(db, settings)
    teacher = token_for(settings, r.world.teacher)

    too_high = await gql.error(
        ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": 9}, teacher
    )
    unknown = await gql.error(ADJUST, {"id": r.evaluation_id, "key": "humour", "level": 2}, teacher)

    assert too_high["extensions"]["fields"] == [
        {"field": "level", "message": "Choose one of the rubric's levels: 1, 2, 3, 4."}
    ]
    assert unknown["extensions"]["fields"][0]["field"] == "criterionKey"
    adjusted = await db.scalar(
        select(CriterionScore.adjusted_level).where(
            CriterionScore.evaluation_id == r.evaluated.evaluation.id,
            CriterionScore.criterion_key == "open_questions",
        )
    )
    await db.commit()
    assert adjusted is None


async def test_the_student_sees_feedback_and_comments_only_once_released(db, settings, gql):
    r = await reviewed(db, settings)
    teacher = token_for(settings, r.world.teacher)
    student = token_for(settings, r.world.student)
    await gql.ok(ADJUST, {"id": r.evaluation_id, "key": "reflections", "level": 4}, teacher)
    await gql.ok(
        COMMENT,
        {"input": {"sessionId": str(r.session.id), "body": "Lovely opening question."}},
        teacher,
    )
    await gql.ok(
        COMMENT,
        {
            "input": {
                "sessionId": str(r.session.id),
                "body": "Try a reflection here.",
                "messageId": str(r.question.id),
            }
        },
        teacher,
    )

    before = (await gql.ok(FEEDBACK, {"id": str(r.session.id)}, student))["session"]
    released = await gql.ok(RELEASE, {"id": r.evaluation_id, "released": True}, teacher)
    after = (await gql.ok(FEEDBACK, {"id": str(r.session.id)}, student))["session"]

    assert before == {"evaluation": None, "reviewComments": []}
    assert released["releaseFeedback"]["evaluation"]["releasedAt"]
    evaluation = after["evaluation"]
    assert evaluation["id"] == r.evaluation_id
    assert evaluation["strengths"] == [STRENGTH]
    assert evaluation["nextSteps"] == [NEXT_STEP]
    scores = {s["criterionKey"]: s for s in evaluation["scores"]}
    assert scores["reflections"]["level"] == 4  # the teacher's level is what counts
    assert scores["open_questions"]["evidence"] == [
        {"sequenceNumber": r.question.sequence_number, "quote": "hardest part"}
    ]
    assert [(c["body"], c["messageId"]) for c in after["reviewComments"]] == [
        ("Lovely opening question.", None),
        ("Try a reflection here.", str(r.question.id)),
    ]

    await gql.ok(RELEASE, {"id": r.evaluation_id, "released": False}, teacher)
    withdrawn = (await gql.ok(FEEDBACK, {"id": str(r.session.id)}, student))["session"]
    assert withdrawn == {"evaluation": None, "reviewComments": []}


async def test_nobody_outside_the_section_reviews_or_reads_it(db, settings, gql):
    r = await reviewed(db, settings, released=True)
    stranger = await make_world(db, settings)
    other_teacher = token_for(settings, stranger.teacher)
    other_student = token_for(settings, stranger.student)
    own_student = token_for(settings, r.world.student)
    before = await _review_state(db, r)

    for token in (other_teacher, other_student):
        for document, variables in (
            (ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": 4}),
            (RELEASE, {"id": r.evaluation_id, "released": False}),
            (COMMENT, {"input": {"sessionId": str(r.session.id), "body": "Hi"}}),
            (FEEDBACK, {"id": str(r.session.id)}),
        ):
            error = await gql.error(document, variables, token)
            assert error["extensions"]["code"] == "NOT_FOUND", (document, error)
    for document, variables in (
        (ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": 4}),
        (RELEASE, {"id": r.evaluation_id, "released": False}),
        (COMMENT, {"input": {"sessionId": str(r.session.id), "body": "Hi"}}),
    ):
        error = await gql.error(document, variables, own_student)
        assert error["extensions"]["code"] == "FORBIDDEN"

    assert await _review_state(db, r) == before


async def test_an_admin_reviews_any_section(db, settings, gql):
    r = await reviewed(db, settings)
    admin = await make_user(db, Role.ADMIN)
    token = token_for(settings, admin)

    await gql.ok(ADJUST, {"id": r.evaluation_id, "key": "open_questions", "level": 1}, token)
    await gql.ok(RELEASE, {"id": r.evaluation_id, "released": True}, token)

    stored = await db.get(Evaluation, r.evaluated.evaluation.id, populate_existing=True)
    await db.commit()
    assert stored.released_by_id == admin.id


async def test_a_comment_on_a_message_of_another_session_is_refused(db, settings, gql):
    r = await reviewed(db, settings)
    other = await reviewed(db, settings)
    error = await gql.error(
        COMMENT,
        {
            "input": {
                "sessionId": str(r.session.id),
                "body": "Here?",
                "messageId": str(other.question.id),
            }
        },
        token_for(settings, r.world.teacher),
    )
    assert error["extensions"]["fields"][0]["field"] == "messageId"


async def _review_state(db, r: Reviewed) -> tuple:
    evaluation = await db.get(Evaluation, r.evaluated.evaluation.id, populate_existing=True)
    scores = (
        await db.execute(
            select(CriterionScore.criterion_key, CriterionScore.adjusted_level).where(
                CriterionScore.evaluation_id == r.evaluated.evaluation.id
            )
        )
    ).all()
    from api.teaching.models import ReviewComment

    comments = list(
        await db.scalars(select(ReviewComment.body).where(ReviewComment.session_id == r.session.id))
    )
    await db.commit()
    return evaluation.released_at, sorted(scores), comments


SET_RUBRIC = """mutation($a: ID!, $r: ID) { setAssignmentRubric(assignmentId: $a, rubricId: $r)
  { assignment { id } } }"""
RELEASE_ON_COMPLETION = """mutation($a: ID!, $on: Boolean!) {
  setFeedbackReleaseOnCompletion(assignmentId: $a, releaseOnCompletion: $on)
  { releaseFeedbackOnCompletion assignment { releaseFeedbackOnCompletion } } }"""
END = "mutation($id: ID!) { endSession(sessionId: $id) { session { id } } }"
STUDENT_VIEW = """query($id: ID!) { session(id: $id) { evaluation { status evaluator releasedAt
  scores { criterionKey level } } } }"""


async def _practise_and_end(db, settings, gql, world) -> str:
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    await say(db, conversation, QUESTION, "Probably the nights.")
    await say(db, conversation, "It sounds like the nights feel long.", "They do.")
    await gql.ok(END, {"id": str(conversation.id)}, token_for(settings, world.student))
    await gql.runtime.evaluations.wait_idle()  # the app's engine, which ran it
    return str(conversation.id)


async def test_release_on_completion_reaches_the_student_without_a_teacher(db, settings, gql):
    world = await make_world(db, settings)
    from tests.factories.review import make_rubric

    rubric = await make_rubric(db, world.teacher)
    teacher = token_for(settings, world.teacher)
    student = token_for(settings, world.student)
    await gql.ok(SET_RUBRIC, {"a": str(world.assignment.id), "r": str(rubric.id)}, teacher)

    held = await _practise_and_end(db, settings, gql, world)
    switched = await gql.ok(
        RELEASE_ON_COMPLETION, {"a": str(world.assignment.id), "on": True}, teacher
    )
    released = await _practise_and_end(db, settings, gql, world)

    assert switched["setFeedbackReleaseOnCompletion"]["releaseFeedbackOnCompletion"] is True
    assert switched["setFeedbackReleaseOnCompletion"]["assignment"] == {
        "releaseFeedbackOnCompletion": True
    }
    # Before the switch: the offline feedback waits for the teacher.
    assert (await gql.ok(STUDENT_VIEW, {"id": held}, student))["session"]["evaluation"] is None
    teachers_view = (await gql.ok(STUDENT_VIEW, {"id": held}, teacher))["session"]["evaluation"]
    assert (teachers_view["status"], teachers_view["releasedAt"]) == ("COMPLETED", None)
    # After it: the student reads it as soon as it is ready.
    evaluation = (await gql.ok(STUDENT_VIEW, {"id": released}, student))["session"]["evaluation"]
    assert evaluation["status"] == "COMPLETED"
    assert evaluation["evaluator"] == "OFFLINE"
    assert evaluation["releasedAt"]
    assert [s["criterionKey"] for s in evaluation["scores"]] == ["open_questions", "reflections"]
