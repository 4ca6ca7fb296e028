"""A session's feedback beside its transcript: the evaluation (advisory), the measures,
the teachers' comments. Teachers and admins review it (adjust levels, comment, release);
students read it once released."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal, InvalidOperation
from typing import Any

import reflex as rx

from ui.format import money, readable_time
from ui.state.base import AppState
from ui.state.conversation import load_session

IN_PROGRESS = ("QUEUED", "RUNNING")
WHOLE_SESSION = "WHOLE"  # the comment target "the whole session" (a select needs a value)
POLL_SECONDS = 1.0
POLL_FOR_SECONDS = 120
ADVISORY = "Advisory · AI-generated feedback: a teacher's judgement comes first."
OFFLINE = (
    "Offline evaluator · computed from the conversation measures, without an AI model. "
    "Advisory only."
)
STATUS_TEXT = {
    "QUEUED": "Feedback is queued…",
    "RUNNING": "Feedback is being written…",
    "FAILED": "The feedback could not be generated.",
}


@dataclasses.dataclass
class ScoreRow:
    key: str = ""
    name: str = ""
    level: int = 0
    max_level: int = 0
    level_text: str = ""  # "3 / 4"
    evaluator_level: int = 0
    adjusted: bool = False
    adjusted_note: str = ""  # "Adjusted by Ms Lee from 2"
    justification: str = ""
    weight: str = ""
    chosen: str = ""  # the level in the teacher's select, as text


@dataclasses.dataclass
class EvidenceRow:
    key: str = ""  # the criterion's
    seq: int = 0
    quote: str = ""
    href: str = ""  # "#message-3"


@dataclasses.dataclass
class LevelOption:
    key: str = ""  # the criterion's
    value: str = ""  # "3"
    label: str = ""  # "3 · Uses open questions throughout"


@dataclasses.dataclass
class CommentRow:
    id: str = ""
    author: str = ""
    mine: bool = False
    body: str = ""
    time: str = ""
    seq: int = 0  # 0: the whole session
    href: str = ""


@dataclasses.dataclass
class MeasureRow:
    label: str = ""
    value: str = ""


def _decimal_text(value: Any, places: str = "0.1") -> str:
    if value is None:
        return "—"
    try:
        return str(Decimal(str(value)).quantize(Decimal(places)))
    except InvalidOperation:
        return str(value)


def _percent(share: Any) -> str:
    if share is None:
        return "—"
    return f"{(Decimal(str(share)) * 100).quantize(Decimal('1'))}%"


class ReviewState(AppState):
    review_loading: bool = False
    review_error: str = ""
    action_error: str = ""
    shown_id: str = ""
    session_status: str = ""
    student_id: str = ""
    assignment_id: str = ""
    auto_release: bool = False

    evaluation_id: str = ""
    evaluation_status: str = ""  # "" when there is none
    evaluator: str = ""  # AI | OFFLINE
    model: str = ""
    rubric_name: str = ""
    overall: str = ""  # "75%"
    completed_at: str = ""
    released_at: str = ""
    evaluation_error: str = ""
    retryable: bool = False
    evaluation_cost: str = ""
    strengths: list[str] = []
    next_steps: list[str] = []
    scores: list[ScoreRow] = []
    evidence: list[EvidenceRow] = []
    level_options: list[LevelOption] = []
    measures: list[MeasureRow] = []
    comments: list[CommentRow] = []
    message_seqs: list[str] = []  # what a comment may be on: the messages' numbers

    comment_text: str = ""
    comment_target: str = WHOLE_SESSION
    comment_error: str = ""
    saving: bool = False
    _poll: int = 0
    _message_numbers: dict[str, int] = {}  # message id -> sequence number

    @rx.var
    def reviewer(self) -> bool:
        return self.user_role in ("TEACHER", "ADMIN")

    @rx.var
    def has_feedback(self) -> bool:
        return self.evaluation_status == "COMPLETED"

    @rx.var
    def in_progress(self) -> bool:
        return self.evaluation_status in IN_PROGRESS

    @rx.var
    def released(self) -> bool:
        return self.released_at != ""

    @rx.var
    def label(self) -> str:
        return OFFLINE if self.evaluator == "OFFLINE" else ADVISORY

    @rx.var
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.evaluation_status, "")

    @rx.var
    def can_evaluate(self) -> bool:
        return (
            self.reviewer
            and self.session_status == "COMPLETED"
            and self.evaluation_status in ("", "FAILED", "COMPLETED")
        )

    @rx.event
    async def load_review(self):
        if not self.signed_in:
            return
        self.shown_id = self.session_id
        self.review_loading, self.review_error, self.action_error = True, "", ""
        self.comment_text, self.comment_target, self.comment_error = "", WHOLE_SESSION, ""
        self._poll += 1
        yield
        messages = await self._reply(load_session(self._api, self.shown_id))
        if not messages.failed:
            _, nodes = messages.data
            self._message_numbers = {m["id"]: m["sequenceNumber"] for m in nodes}
            self.message_seqs = [str(m["sequenceNumber"]) for m in nodes]
        reply = await self._call("SessionReview", id=self.shown_id)
        self.review_loading = False
        if reply.failed:
            self.review_error = "" if reply.not_found else reply.message
            return
        self._show(reply.data["session"])
        if self.in_progress:
            yield ReviewState.follow

    def _show(self, session: dict[str, Any]) -> None:
        self.session_status = session["status"]
        self.student_id = (session.get("student") or {}).get("id", "")
        assignment = session.get("assignment") or {}
        self.assignment_id = assignment.get("id", "")
        self.auto_release = bool(assignment.get("releaseFeedbackOnCompletion"))
        self._evaluation(session.get("evaluation"))
        self._measures(session.get("measures"))
        self.comments = [self._comment(c) for c in session.get("reviewComments") or []]

    def _evaluation(self, evaluation: dict[str, Any] | None) -> None:
        evaluation = evaluation or {}
        self.evaluation_id = evaluation.get("id", "")
        self.evaluation_status = evaluation.get("status", "")
        self.evaluator = evaluation.get("evaluator", "")
        self.model = evaluation.get("model") or ""
        self.rubric_name = evaluation.get("rubricName") or ""
        overall = evaluation.get("overallScore")
        self.overall = _percent(overall) if overall is not None else ""
        self.completed_at = readable_time(evaluation.get("completedAt"))
        self.released_at = readable_time(evaluation.get("releasedAt"))
        self.evaluation_error = evaluation.get("error") or ""
        self.retryable = bool(evaluation.get("retryable"))
        self.evaluation_cost = money(evaluation.get("estimatedCost"))
        self.strengths = list(evaluation.get("strengths") or [])
        self.next_steps = list(evaluation.get("nextSteps") or [])
        levels = {
            c["key"]: c["levels"]
            for c in (evaluation.get("rubricVersion") or {}).get("criteria", [])
        }
        self.scores = [self._score(s) for s in evaluation.get("scores") or []]
        self.evidence = [
            EvidenceRow(
                key=s["criterionKey"],
                seq=e["sequenceNumber"],
                quote=e["quote"],
                href=f"#message-{e['sequenceNumber']}",
            )
            for s in evaluation.get("scores") or []
            for e in s["evidence"]
        ]
        self.level_options = [
            LevelOption(key, str(lv["level"]), f"{lv['level']} · {lv['descriptor']}")
            for key, listed in levels.items()
            for lv in listed
        ]

    def _score(self, score: dict[str, Any]) -> ScoreRow:
        adjusted = score.get("adjustedLevel") is not None
        who = (score.get("adjustedBy") or {}).get("name", "a teacher")
        return ScoreRow(
            key=score["criterionKey"],
            name=score["criterionName"],
            level=score["level"],
            max_level=score["maxLevel"],
            level_text=f"{score['level']} / {score['maxLevel']}",
            evaluator_level=score["evaluatorLevel"],
            adjusted=adjusted,
            adjusted_note=(
                f"Adjusted by {who} (the evaluator gave {score['evaluatorLevel']})"
                if adjusted
                else ""
            ),
            justification=score["justification"],
            weight=str(score["weight"]),
            chosen=str(score["level"]),
        )

    def _measures(self, measures: dict[str, Any] | None) -> None:
        if not measures:
            self.measures = []
            return
        self.measures = [
            MeasureRow("Student messages", str(measures["studentMessages"])),
            MeasureRow("Open questions", str(measures["openQuestions"])),
            MeasureRow("Closed questions", str(measures["closedQuestions"])),
            MeasureRow("Reflections", str(measures["reflections"])),
            MeasureRow("Share of talk", _percent(measures["talkShare"])),
            MeasureRow("Words per message", _decimal_text(measures["meanStudentMessageWords"])),
            MeasureRow(
                "Median time to answer",
                _decimal_text(measures["medianTurnGapSeconds"]) + " s"
                if measures["medianTurnGapSeconds"] is not None
                else "—",
            ),
        ]

    def _comment(self, comment: dict[str, Any]) -> CommentRow:
        author = comment.get("author") or {}
        seq = 0
        if comment.get("messageId"):
            seq = self._seq_of(comment["messageId"])
        return CommentRow(
            id=comment["id"],
            author=author.get("name", "A teacher"),
            mine=author.get("id") == self.user_id,
            body=comment["body"],
            time=readable_time(comment["createdAt"]),
            seq=seq,
            href=f"#message-{seq}" if seq else "",
        )

    def _seq_of(self, message_id: str) -> int:
        return self._message_numbers.get(message_id, 0)

    @rx.event(background=True)
    async def follow(self):
        """While the evaluation runs, look again every second (up to two minutes)."""
        async with self:
            generation, session_id = self._poll, self.shown_id
        for _ in range(int(POLL_FOR_SECONDS / POLL_SECONDS)):
            await asyncio.sleep(POLL_SECONDS)
            async with self:
                if self._poll != generation:
                    return
            reply = await self._call("SessionReview", id=session_id)
            async with self:
                if self._poll != generation or reply.failed:
                    return
                self._show(reply.data["session"])
                if not self.in_progress:
                    return

    # Reviewing -------------------------------------------------------------------------------

    @rx.event
    async def evaluate(self):
        self.saving, self.action_error = True, ""
        yield
        reply = await self._call("EvaluateSession", sessionId=self.shown_id)
        self.saving = False
        if reply.failed:
            self.action_error = reply.message
            yield reply.redirect
            return
        self._evaluation(reply.data["evaluateSession"]["evaluation"])
        self._poll += 1
        yield ReviewState.follow

    @rx.event
    async def adjust(self, key: str, value: str):
        self.action_error = ""
        level = int(value) if value.lstrip("-").isdigit() else None
        reply = await self._call(
            "AdjustCriterionLevel", evaluationId=self.evaluation_id, criterionKey=key, level=level
        )
        if reply.failed:
            self.action_error = reply.field("level") or reply.message
            yield reply.redirect
            return
        self._evaluation(reply.data["adjustCriterionLevel"]["evaluation"])

    @rx.event
    async def reset_level(self, key: str):
        async for update in self.adjust(key, ""):
            yield update

    @rx.event
    async def release(self, released: bool):
        self.saving, self.action_error = True, ""
        yield
        reply = await self._call(
            "ReleaseFeedback", evaluationId=self.evaluation_id, released=released
        )
        self.saving = False
        if reply.failed:
            self.action_error = reply.message
            yield reply.redirect
            return
        self._evaluation(reply.data["releaseFeedback"]["evaluation"])

    @rx.event
    def set_comment_text(self, value: str):
        self.comment_text, self.comment_error = value, ""

    @rx.event
    def set_comment_target(self, value: str):
        self.comment_target = value

    @rx.event
    def comment_on(self, seq: int):
        """Start a comment on one message (its button in the transcript)."""
        self.comment_target = str(seq)
        return rx.set_focus("review-comment")

    @rx.event
    async def add_comment(self, _form: dict | None = None):
        if not self.comment_text.strip():
            self.comment_error = "Write a comment first."
            return
        self.saving, self.comment_error = True, ""
        yield
        message_id = None
        if self.comment_target != WHOLE_SESSION:
            message_id = next(
                (i for i, n in self._message_numbers.items() if str(n) == self.comment_target),
                None,
            )
        reply = await self._call(
            "AddReviewComment",
            input={"sessionId": self.shown_id, "body": self.comment_text, "messageId": message_id},
        )
        self.saving = False
        if reply.failed:
            self.comment_error = reply.field("body") or reply.field("messageId", reply.message)
            yield reply.redirect
            return
        self.comments = [*self.comments, self._comment(reply.data["addReviewComment"]["comment"])]
        self.comment_text, self.comment_target = "", WHOLE_SESSION

    @rx.event
    async def delete_comment(self, comment_id: str):
        reply = await self._call("DeleteReviewComment", id=comment_id)
        if reply.failed:
            self.action_error = reply.message
            yield reply.redirect
            return
        self.comments = [c for c in self.comments if c.id != comment_id]

    # Exports ---------------------------------------------------------------------------------

    @rx.event
    async def export(self, fmt: str):
        reply = await self._call("ExportSession", sessionId=self.shown_id, format=fmt)
        if reply.failed:
            self.action_error = reply.message
            yield reply.redirect
            return
        file = reply.data["exportSession"]
        yield rx.download(data=file["content"], filename=file["filename"])
