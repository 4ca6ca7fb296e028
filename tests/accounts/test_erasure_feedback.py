"""Erasing a student also removes the words of their feedback: the evaluator's evidence
quotes (which repeat what the student wrote), justifications, strengths and next steps, and
the teacher's comments. The levels stay, like the ratings' numbers."""

from __future__ import annotations

from sqlalchemy import select

from api.accounts import admin
from api.accounts.models import Role
from api.conversations import service as conversations
from api.teaching import review
from api.teaching.models import CriterionScore, Evaluation, ReviewComment
from tests.factories.accounts import actor, make_user
from tests.factories.conversations import end, say
from tests.factories.review import evaluate
from tests.factories.world import make_world


async def test_erasure_removes_the_words_of_feedback_and_keeps_its_levels(db, settings):
    world = await make_world(db, settings)
    admin_user = await make_user(db, Role.ADMIN)
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id, assignment_id=world.assignment.id
    )
    await db.commit()
    await say(db, conversation, "My sister Jo lives on Elm Street.", "That sounds close.")
    await end(db, conversation)
    evaluated = await evaluate(
        db, conversation, world.teacher, quote=(1, "My sister Jo lives on Elm Street")
    )
    await review.add_comment(
        db, actor(world.teacher), conversation.id, review.CommentFields(body="Jo again.")
    )
    await db.commit()

    await admin.erase_student(db, actor(admin_user), world.student.id, None)
    await db.commit()

    evaluation = await db.get(Evaluation, evaluated.evaluation.id, populate_existing=True)
    assert (evaluation.strengths, evaluation.next_steps) == ([], [])
    scores = (
        await db.scalars(
            select(CriterionScore)
            .where(CriterionScore.evaluation_id == evaluation.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    assert sorted(s.level for s in scores) == [2, 3]
    assert all(s.justification == "" and s.evidence == [] for s in scores)
    of_the_session = ReviewComment.session_id == conversation.id
    comments = (await db.scalars(select(ReviewComment.body).where(of_the_session))).all()
    assert comments and all("Jo" not in body for body in comments)
