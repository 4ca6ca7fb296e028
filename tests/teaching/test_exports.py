"""Exports: a section's sessions as CSV, a transcript with its feedback as Markdown and
JSON, with the same permissions as reading them. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from api.accounts.models import Role
from api.conversations import service as conversations
from api.conversations.models import SessionFeedback
from tests.api.test_authorization import token_for
from tests.factories.accounts import actor, make_user
from tests.factories.conversations import end, say
from tests.factories.review import NEXT_STEP, STRENGTH, evaluate
from tests.factories.world import make_world
from tests.teaching.test_review import ADJUST, COMMENT

CSV = (
    """query($id: ID!) { exportSectionSessions(sectionId: $id) { filename contentType content } }"""
)
SESSION = """query($id: ID!, $format: ExportFormat!) {
  exportSession(sessionId: $id, format: $format) { filename contentType content } }"""


async def _finished(db, settings, world, words="What brings you here today?", cost="0.0042"):
    conversation, _ = await conversations.start_session(
        db, actor(world.student), settings, world.profile.id
    )
    await say(db, conversation, words, '=HYPERLINK("http://x") I\'m not sure.')
    conversation.estimated_cost = Decimal(cost)
    conversation.input_tokens, conversation.output_tokens = 1200, 80
    await end(db, conversation)
    return conversation


async def test_section_csv_has_a_row_per_session_with_scores_measures_and_costs(db, settings, gql):
    world = await make_world(db, settings)
    evaluated_session = await _finished(db, settings, world)
    plain = await _finished(db, settings, world, words="Hello.", cost="0.001")
    db.add(SessionFeedback(session_id=plain.id, student_id=world.student.id, rating=4))
    await db.commit()
    evaluated = await evaluate(db, evaluated_session, world.teacher, levels=(3, 2))
    teacher = token_for(settings, world.teacher)
    await gql.ok(
        ADJUST,
        {"id": str(evaluated.evaluation.id), "key": "reflections", "level": 4},
        teacher,
    )

    file = (await gql.ok(CSV, {"id": str(world.section.id)}, teacher))["exportSectionSessions"]

    assert file["contentType"] == "text/csv; charset=utf-8"
    assert file["filename"].endswith("-sessions.csv")
    rows = list(csv.DictReader(io.StringIO(file["content"])))
    header = file["content"].splitlines()[0].split(",")
    assert header[:6] == [
        "session_id",
        "student",
        "student_email",
        "client",
        "assignment",
        "status",
    ]
    assert header[-2:] == ["score:open_questions", "score:reflections"]
    assert [r["session_id"] for r in rows] == [str(evaluated_session.id), str(plain.id)]
    first, second = rows
    assert first["student"] == world.student.name
    assert first["client"] == world.profile.name
    assert first["status"] == "COMPLETED"
    assert first["cost_usd"] == "0.0042"
    assert first["input_tokens"] == "1200"
    assert first["total_tokens"] == "1280"
    assert first["messages"] == "2"
    assert first["evaluation_status"] == "COMPLETED"
    assert first["evaluator"] == "OFFLINE"
    assert first["released"] == "no"
    assert (first["score:open_questions"], first["score:reflections"]) == ("3", "4")
    assert first["overall_score"] == "0.778"
    assert second["student_rating"] == "4"
    assert second["score:open_questions"] == second["evaluation_status"] == ""


async def test_section_csv_is_for_its_teacher_and_admins_only(db, settings, gql):
    world = await make_world(db, settings)
    stranger = await make_world(db, settings)
    admin = await make_user(db, Role.ADMIN)
    variables = {"id": str(world.section.id)}

    student = await gql.error(CSV, variables, token_for(settings, world.student))
    other = await gql.error(CSV, variables, token_for(settings, stranger.teacher))
    by_admin = await gql.ok(CSV, variables, token_for(settings, admin))

    assert student["extensions"]["code"] == "FORBIDDEN"
    assert other["extensions"]["code"] == "NOT_FOUND"
    assert by_admin["exportSectionSessions"]["content"].startswith("session_id,")


async def test_a_cell_that_a_spreadsheet_would_run_is_kept_as_text(db, settings, gql):
    world = await make_world(db, settings)
    world.student.name = "=cmd|' /C calc'!A0"
    await db.commit()
    await _finished(db, settings, world)
    file = await gql.ok(CSV, {"id": str(world.section.id)}, token_for(settings, world.teacher))
    [row] = list(csv.DictReader(io.StringIO(file["exportSectionSessions"]["content"])))
    assert row["student"] == "'=cmd|' /C calc'!A0"


async def test_transcript_as_markdown_and_json_with_its_feedback(db, settings, gql):
    world = await make_world(db, settings)
    conversation = await _finished(db, settings, world)
    evaluated = await evaluate(
        db, conversation, world.teacher, quote=(1, "brings you here"), released=True
    )
    teacher = token_for(settings, world.teacher)
    await gql.ok(
        COMMENT,
        {"input": {"sessionId": str(conversation.id), "body": "A warm start."}},
        teacher,
    )
    await gql.ok(
        ADJUST, {"id": str(evaluated.evaluation.id), "key": "open_questions", "level": 3}, teacher
    )

    md = (await gql.ok(SESSION, {"id": str(conversation.id), "format": "MARKDOWN"}, teacher))[
        "exportSession"
    ]
    data = (await gql.ok(SESSION, {"id": str(conversation.id), "format": "JSON"}, teacher))[
        "exportSession"
    ]

    assert md["filename"].endswith(".md") and md["contentType"].startswith("text/markdown")
    text = md["content"]
    assert text.startswith(f"# Practice session with {world.profile.name}")
    assert "> Offline evaluator" in text
    assert "| Open questions | 3 / 4 (adjusted by a teacher; evaluator: 2) |" in text
    assert "- Message 1: “brings you here”" in text
    assert f"- {STRENGTH}" in text and f"- {NEXT_STEP}" in text
    assert "A warm start." in text
    assert "**1. Student**" in text and "> What brings you here today?" in text
    assert "- Estimated cost: $0.0042" in text

    assert data["contentType"] == "application/json"
    parsed = json.loads(data["content"])
    assert parsed["session"]["id"] == str(conversation.id)
    assert parsed["session"]["estimatedCostUsd"] == "0.0042"
    assert [m["sequenceNumber"] for m in parsed["messages"]] == [1, 2]
    feedback = parsed["feedback"]
    assert feedback["evaluator"] == "OFFLINE"
    assert feedback["released"] is True
    open_q = feedback["criteria"][0]
    assert (open_q["key"], open_q["level"], open_q["evaluatorLevel"], open_q["adjusted"]) == (
        "open_questions",
        3,
        2,
        True,
    )
    assert open_q["evidence"] == [{"sequenceNumber": 1, "quote": "brings you here"}]
    assert parsed["comments"][0]["body"] == "A warm start."


async def test_a_students_export_has_no_costs_and_only_released_feedback(db, settings, gql):
    world = await make_world(db, settings)
    conversation = await _finished(db, settings, world)
    await evaluate(db, conversation, world.teacher)  # not released
    student = token_for(settings, world.student)
    stranger = await make_world(db, settings)

    mine = json.loads(
        (await gql.ok(SESSION, {"id": str(conversation.id), "format": "JSON"}, student))[
            "exportSession"
        ]["content"]
    )
    other = await gql.error(
        SESSION,
        {"id": str(conversation.id), "format": "MARKDOWN"},
        token_for(settings, stranger.student),
    )

    assert mine["feedback"] is None
    assert mine["comments"] == []
    assert "estimatedCostUsd" not in mine["session"]
    assert mine["messages"][0]["content"] == "What brings you here today?"
    assert other["extensions"]["code"] == "NOT_FOUND"
