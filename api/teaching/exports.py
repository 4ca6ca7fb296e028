"""Exports: a section's sessions as CSV; one transcript with its feedback as Markdown or JSON.

The same rules as reading them in the API: a section's export is for its teacher and
admins; a transcript's for whoever may read the session, with the feedback a student may
see (released only) or a teacher sees (all of it, with the adjustments).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.models import User
from api.accounts.security import Actor
from api.classes import service as classes
from api.classes.models import Assignment
from api.clients.models import ClientProfile
from api.conversations import repository as conversations
from api.conversations.models import Message, Session, SessionFeedback
from api.teaching import repository, review
from api.teaching.errors import TeachingError
from api.teaching.models import CriterionScore, Evaluation, RubricVersion, SessionMeasures

ADVISORY = "Advisory feedback, AI-generated: a teacher's judgement comes first."
OFFLINE = "Offline evaluator: computed from the conversation measures, without an AI model."
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    MARKDOWN = "MARKDOWN"
    JSON = "JSON"


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    content: str


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _duration(conversation: Session) -> int | None:
    if conversation.ended_at is None:
        return None
    return int((conversation.ended_at - conversation.started_at).total_seconds())


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _slug(text: str) -> str:
    kept = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in kept.split("-") if part)[:60] or "export"


# The feedback of a session, as a reader may see it -----------------------------------------


@dataclass
class Feedback:
    evaluation: Evaluation
    version: RubricVersion
    scores: list[CriterionScore]

    @property
    def overall(self) -> Decimal | None:
        return review.overall(self.version, self.scores)


async def feedback_for(
    session: AsyncSession, actor: Actor, conversation: Session
) -> Feedback | None:
    """The session's latest completed evaluation the actor may read (released only, for
    its student), with its rubric version and scores."""
    evaluation = await repository.latest_completed(session, conversation.id)
    if evaluation is None:
        return None
    if not review.reviews(actor) and not review.student_may_read(actor, conversation, evaluation):
        evaluation = await repository.latest_released(session, conversation.id)
        if evaluation is None or conversation.student_id != actor.id:
            return None
    version = await session.get_one(RubricVersion, evaluation.rubric_version_id)
    scores = (await repository.scores_of(session, [evaluation.id]))[evaluation.id]
    return Feedback(evaluation, version, scores)


# A section's sessions as CSV ---------------------------------------------------------------

BASE_COLUMNS = [
    "session_id",
    "student",
    "student_email",
    "client",
    "assignment",
    "status",
    "started_at",
    "ended_at",
    "duration_seconds",
    "messages",
    "student_rating",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "total_tokens",
    "cost_usd",
    "student_messages",
    "open_questions",
    "closed_questions",
    "reflections",
    "student_talk_share",
    "median_turn_gap_seconds",
    "evaluation_status",
    "evaluator",
    "evaluation_cost_usd",
    "released",
    "overall_score",
]


def _measures(measures: SessionMeasures | None) -> list[Any]:
    if measures is None:
        return ["", "", "", "", "", ""]
    words = measures.student_words + measures.client_words
    share = (Decimal(measures.student_words) / words).quantize(Decimal("0.001")) if words else ""
    gap = measures.median_turn_gap_ms
    return [
        measures.student_messages,
        measures.open_questions,
        measures.closed_questions,
        measures.reflections,
        share,
        "" if gap is None else (Decimal(gap) / 1000).quantize(Decimal("0.1")),
    ]


async def section_sessions_csv(
    session: AsyncSession, actor: Actor, section_id: uuid.UUID
) -> ExportFile:
    """Every session of a section, oldest first: who, with whom, how long, the rating, the
    tokens and cost, the conversation measures, and each criterion's level (the teacher's
    adjusted level when there is one)."""
    section = await classes.get_managed_section(session, actor, section_id)
    rows = (
        await session.execute(
            select(Session, User, ClientProfile, Assignment, SessionFeedback, SessionMeasures)
            .join(User, User.id == Session.student_id)
            .join(ClientProfile, ClientProfile.id == Session.client_profile_id)
            .outerjoin(Assignment, Assignment.id == Session.assignment_id)
            .outerjoin(SessionFeedback, SessionFeedback.session_id == Session.id)
            .outerjoin(SessionMeasures, SessionMeasures.session_id == Session.id)
            .where(Session.section_id == section.id)
            .order_by(Session.started_at, Session.id)
        )
    ).all()
    latest = await repository.latest_evaluations(session, [row[0].id for row in rows])
    versions = await repository.versions_by_id(
        session, {e.rubric_version_id for e in latest.values()}
    )
    scores = await repository.scores_of(session, [e.id for e in latest.values()])
    criteria: dict[str, str] = {}  # key -> name, in the order first met
    for evaluation in latest.values():
        for criterion in versions[evaluation.rubric_version_id].criteria:
            criteria.setdefault(criterion["key"], criterion["name"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*BASE_COLUMNS, *(f"score:{key}" for key in criteria)])
    for conversation, student, profile, assignment, rating, measures in rows:
        evaluation = latest.get(conversation.id)
        own = scores.get(evaluation.id, []) if evaluation else []
        levels = {s.criterion_key: review.effective_level(s) for s in own}
        version = versions.get(evaluation.rubric_version_id) if evaluation else None
        overall = review.overall(version, own) if version and own else None
        writer.writerow(
            [
                _cell(v)
                for v in [
                    conversation.id,
                    student.name,
                    student.email,
                    profile.name,
                    assignment.title if assignment else "",
                    conversation.status.value,
                    _iso(conversation.started_at),
                    _iso(conversation.ended_at),
                    _duration(conversation),
                    conversation.message_count,
                    rating.rating if rating else "",
                    conversation.input_tokens,
                    conversation.output_tokens,
                    conversation.cache_write_tokens,
                    conversation.cache_read_tokens,
                    conversation.total_tokens,
                    conversation.estimated_cost,
                    *_measures(measures),
                    evaluation.status.value if evaluation else "",
                    evaluation.evaluator.value if evaluation else "",
                    evaluation.cost if evaluation else "",
                    ("yes" if review.released(evaluation) else "no") if evaluation else "",
                    "" if overall is None else overall,
                    *(levels.get(key, "") for key in criteria),
                ]
            ]
        )
    name = f"{_slug(section.name)}-sessions.csv"
    return ExportFile(name, "text/csv; charset=utf-8", out.getvalue())


# One transcript with its feedback ----------------------------------------------------------


async def _transcript(session: AsyncSession, actor: Actor, session_id: uuid.UUID) -> dict[str, Any]:
    conversation = await review.visible_session(session, actor, session_id)
    student = await session.get(User, conversation.student_id)
    profile = await session.get(ClientProfile, conversation.client_profile_id)
    assignment = (
        await session.get(Assignment, conversation.assignment_id)
        if conversation.assignment_id
        else None
    )
    messages = list(
        await session.scalars(
            conversations.messages_of(conversation.id).order_by(Message.sequence_number)
        )
    )
    comments = await review.comments_for(session, actor, conversation)
    authors = {
        u.id: u.name
        for u in await session.scalars(
            select(User).where(User.id.in_({c.author_id for c in comments}))
        )
    }
    feedback = await feedback_for(session, actor, conversation)
    teacher_view = review.reviews(actor)
    data: dict[str, Any] = {
        "session": {
            "id": str(conversation.id),
            "student": student.name if student else None,
            "client": profile.name if profile else None,
            "assignment": assignment.title if assignment else None,
            "status": conversation.status.value,
            "model": conversation.model,
            "startedAt": _iso(conversation.started_at) or None,
            "endedAt": _iso(conversation.ended_at) or None,
            "durationSeconds": _duration(conversation),
            "messageCount": conversation.message_count,
        },
        "messages": [
            {
                "sequenceNumber": m.sequence_number,
                "role": m.role.value,
                "status": m.status.value,
                "timestamp": _iso(m.created_at),
                "content": m.content,
            }
            for m in messages
        ],
        "comments": [
            {
                "author": authors.get(c.author_id),
                "messageSequenceNumber": next(
                    (m.sequence_number for m in messages if m.id == c.message_id), None
                ),
                "body": c.body,
                "createdAt": _iso(c.created_at),
            }
            for c in comments
        ],
        "feedback": _feedback_json(feedback, teacher_view) if feedback else None,
    }
    if teacher_view:
        data["session"].update(
            {
                "inputTokens": conversation.input_tokens,
                "outputTokens": conversation.output_tokens,
                "cacheWriteTokens": conversation.cache_write_tokens,
                "cacheReadTokens": conversation.cache_read_tokens,
                "totalTokens": conversation.total_tokens,
                "estimatedCostUsd": str(conversation.estimated_cost),
            }
        )
    return data


def _feedback_json(feedback: Feedback, teacher_view: bool) -> dict[str, Any]:
    evaluation, version = feedback.evaluation, feedback.version
    overall = feedback.overall
    criteria = []
    for score in feedback.scores:
        criterion = review.criterion_of(version, score.criterion_key) or {}
        entry = {
            "key": score.criterion_key,
            "name": criterion.get("name", score.criterion_key),
            "weight": criterion.get("weight"),
            "level": review.effective_level(score),
            "maxLevel": review.max_level(criterion),
            "evaluatorLevel": score.level,
            "adjusted": score.adjusted_level is not None,
            "justification": score.justification,
            "evidence": [
                {"sequenceNumber": e["sequence_number"], "quote": e["quote"]}
                for e in score.evidence
            ],
        }
        criteria.append(entry)
    result = {
        "evaluator": evaluation.evaluator.value,
        "label": OFFLINE if evaluation.evaluator.value == "OFFLINE" else ADVISORY,
        "model": evaluation.model,
        "completedAt": _iso(evaluation.completed_at) or None,
        "released": review.released(evaluation),
        "releasedAt": _iso(evaluation.released_at) or None,
        "rubricVersion": version.version,
        "overallScore": None if overall is None else str(overall),
        "criteria": criteria,
        "strengths": list(evaluation.strengths),
        "nextSteps": list(evaluation.next_steps),
    }
    if teacher_view:
        result["costUsd"] = str(evaluation.cost)
    return result


def _markdown(data: dict[str, Any]) -> str:
    s = data["session"]
    lines = [
        f"# Practice session with {s['client'] or 'a client'}",
        "",
        f"- Student: {s['student'] or '—'}",
        f"- Assignment: {s['assignment'] or '—'}",
        f"- Status: {s['status']}",
        f"- Started: {s['startedAt'] or '—'}",
        f"- Ended: {s['endedAt'] or '—'}",
        f"- Messages: {s['messageCount']}",
        f"- Model: {s['model']}",
    ]
    if "estimatedCostUsd" in s:
        lines += [
            f"- Tokens: {s['totalTokens']:,}",
            f"- Estimated cost: ${s['estimatedCostUsd']}",
        ]
    feedback = data["feedback"]
    if feedback:
        lines += ["", "## Feedback", "", f"> {feedback['label']}", ""]
        if feedback["overallScore"] is not None:
            share = Decimal(feedback["overallScore"]) * 100
            lines += [f"Overall score: {share.quantize(Decimal(1))}%", ""]
        lines += ["| Criterion | Level | Why |", "| --- | --- | --- |"]
        for c in feedback["criteria"]:
            level = f"{c['level']} / {c['maxLevel']}"
            if c["adjusted"]:
                level += f" (adjusted by a teacher; evaluator: {c['evaluatorLevel']})"
            why = c["justification"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {c['name']} | {level} | {why} |")
        for c in feedback["criteria"]:
            if c["evidence"]:
                lines += ["", f"**Evidence for {c['name']}**", ""]
                lines += [f"- Message {e['sequenceNumber']}: “{e['quote']}”" for e in c["evidence"]]
        if feedback["strengths"]:
            lines += ["", "### Strengths", "", *(f"- {x}" for x in feedback["strengths"])]
        if feedback["nextSteps"]:
            lines += ["", "### Next steps", "", *(f"- {x}" for x in feedback["nextSteps"])]
    if data["comments"]:
        lines += ["", "## Teacher comments", ""]
        for c in data["comments"]:
            where = (
                f" (on message {c['messageSequenceNumber']})" if c["messageSequenceNumber"] else ""
            )
            lines.append(f"- {c['author'] or 'A teacher'}{where}: {c['body']}")
    lines += ["", "## Conversation", ""]
    for m in data["messages"]:
        who = "Student" if m["role"] == "USER" else "Client"
        note = "" if m["status"] == "COMPLETE" else f" _({m['status'].lower()})_"
        lines += [f"**{m['sequenceNumber']}. {who}** · {m['timestamp']}{note}", ""]
        lines += [*(f"> {line}" for line in (m["content"] or "").splitlines() or [""]), ""]
    return "\n".join(lines).rstrip() + "\n"


async def session_export(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, fmt: ExportFormat
) -> ExportFile:
    data = await _transcript(session, actor, session_id)
    base = f"session-{_slug(data['session']['client'] or 'client')}-{str(session_id)[:8]}"
    if fmt is ExportFormat.JSON:
        content = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        return ExportFile(f"{base}.json", "application/json", content)
    if fmt is ExportFormat.MARKDOWN:
        return ExportFile(f"{base}.md", "text/markdown; charset=utf-8", _markdown(data))
    raise TeachingError.invalid("format", "Choose MARKDOWN or JSON.")
