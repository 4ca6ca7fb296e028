"""Rubrics (versioned), conversation measures and evaluations of practice sessions.

A rubric's criteria live in immutable versions: editing a rubric that already has
evaluations makes a new version, and every evaluation stays tied to the version it was
made with. A criterion is named within a version by its `key` (stable across versions
when the teacher keeps the name), so that progress can be followed per criterion.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin, utcnow


def _enum(enum_type: type[StrEnum], name: str) -> Enum:
    return Enum(enum_type, name=name, native_enum=False, length=16)


class RubricStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


class EvaluationStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class EvaluatorKind(StrEnum):
    AI = "AI"  # a language model with validated structured output
    OFFLINE = "OFFLINE"  # deterministic, from the conversation measures (no model)


IN_PROGRESS = (EvaluationStatus.QUEUED, EvaluationStatus.RUNNING)


class Rubric(IdMixin, CreatedAtMixin, Base):
    """A teacher's rubric; its criteria are in `RubricVersion`s."""

    __tablename__ = "rubrics"
    __table_args__ = (Index("ix_rubrics_owner_name", "owner_id", "name"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[RubricStatus] = mapped_column(
        _enum(RubricStatus, "rubric_status"), default=RubricStatus.DRAFT
    )
    current_version: Mapped[int] = mapped_column(default=1)
    published_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RubricVersion(IdMixin, CreatedAtMixin, Base):
    """A rubric's criteria as they were at one time; never changed once evaluated against.

    `criteria`: a list of `{"key", "name", "description", "weight" (decimal text),
    "levels": [{"level": int, "descriptor": str}, ...]}` in the teacher's order, levels in
    ascending order.
    """

    __tablename__ = "rubric_versions"
    __table_args__ = (UniqueConstraint("rubric_id", "version"),)

    rubric_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"))
    version: Mapped[int]
    criteria: Mapped[list[dict]] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class SessionMeasures(Base):
    """Conversation measures of a completed session (see `api.teaching.measures`)."""

    __tablename__ = "session_measures"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    method_version: Mapped[int] = mapped_column(default=1)
    student_messages: Mapped[int] = mapped_column(default=0)
    client_messages: Mapped[int] = mapped_column(default=0)
    student_words: Mapped[int] = mapped_column(default=0)
    client_words: Mapped[int] = mapped_column(default=0)
    student_chars: Mapped[int] = mapped_column(default=0)
    open_questions: Mapped[int] = mapped_column(default=0)
    closed_questions: Mapped[int] = mapped_column(default=0)
    reflections: Mapped[int] = mapped_column(default=0)
    median_turn_gap_ms: Mapped[int | None]
    """Median time from a client's reply to the student's next message."""
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Evaluation(IdMixin, CreatedAtMixin, Base):
    """One evaluation of a session against a rubric version: advisory feedback.

    Written whole: the scores are stored in the same transaction that marks it
    COMPLETED, so that a FAILED (or still running) evaluation has none.
    """

    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_session_created", "session_id", "created_at"),
        Index("ix_evaluations_rubric_version", "rubric_version_id"),
        # At most one evaluation under way per session.
        Index(
            "uq_evaluations_one_in_progress",
            "session_id",
            unique=True,
            sqlite_where=text("status IN ('QUEUED', 'RUNNING')"),
            postgresql_where=text("status IN ('QUEUED', 'RUNNING')"),
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    rubric_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rubric_versions.id"))
    status: Mapped[EvaluationStatus] = mapped_column(
        _enum(EvaluationStatus, "evaluation_status"), default=EvaluationStatus.QUEUED
    )
    evaluator: Mapped[EvaluatorKind] = mapped_column(_enum(EvaluatorKind, "evaluator_kind"))
    model: Mapped[str | None] = mapped_column(String(100))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    attempts: Mapped[int] = mapped_column(default=0)
    strengths: Mapped[list[str]] = mapped_column(JSON, default=list)
    next_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    """Why it FAILED, for teachers (no prompt text, no secrets)."""
    retryable: Mapped[bool] = mapped_column(default=False)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    """When a teacher released it to the student; students see only released ones."""
    released_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class CriterionScore(IdMixin, Base):
    """An evaluation's level for one criterion, why, and the evidence.

    `evidence`: a list of `{"sequence_number": int, "quote": str}`, each quote found
    verbatim in the message it cites.
    """

    __tablename__ = "criterion_scores"
    __table_args__ = (UniqueConstraint("evaluation_id", "criterion_key"),)

    evaluation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE")
    )
    criterion_key: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    level: Mapped[int]
    justification: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # A teacher's level, kept beside the evaluator's `level` (which is never overwritten).
    adjusted_level: Mapped[int | None]
    adjusted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    adjusted_at: Mapped[datetime | None]


class ReviewComment(IdMixin, CreatedAtMixin, Base):
    """A teacher's comment on a whole session (`message_id` None) or on one message. Its
    student reads it once the session's feedback is released."""

    __tablename__ = "review_comments"
    __table_args__ = (Index("ix_review_comments_session_created", "session_id", "created_at"),)

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
