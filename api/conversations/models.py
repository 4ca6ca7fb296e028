from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.accounts.models import Role, User
from api.db.base import Base, CreatedAtMixin, IdMixin, utcnow
from api.llm.base import total_tokens


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"


class SessionKind(StrEnum):
    PRACTICE = "PRACTICE"  # a conversation someone holds with a client
    CLIENT_CHECK = "CLIENT_CHECK"
    """A client check's throwaway conversation: it only carries the check's usage (for
    budgets and analytics); no one lists it, opens it or reads a transcript of it."""


class MessageRole(StrEnum):
    USER = "USER"
    ASSISTANT = "ASSISTANT"


class MessageStatus(StrEnum):
    COMPLETE = "COMPLETE"
    STREAMING = "STREAMING"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"
    CANCELLED = "CANCELLED"


def _enum(enum_type: type[StrEnum], name: str) -> Enum:
    return Enum(enum_type, name=name, native_enum=False, length=16)


class Session(IdMixin, Base):
    """One practice conversation between a student and a client profile."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_student_started", "student_id", "started_at"),
        Index("ix_sessions_status_started", "status", "started_at"),
        Index("ix_sessions_client", "client_profile_id"),
        Index("ix_sessions_assignment", "assignment_id"),
        Index("ix_sessions_section_started", "section_id", "started_at"),
        Index("ix_sessions_started", "started_at"),
        # Covers the completed sessions' count, sum and median cost in usageSummary.
        Index("ix_sessions_ended", "ended_at", "status", "estimated_cost"),
        # At most one ACTIVE session per student and client: startSession relies on it.
        Index(
            "uq_sessions_one_active",
            "student_id",
            "client_profile_id",
            unique=True,
            sqlite_where=text("status = 'ACTIVE'"),
            postgresql_where=text("status = 'ACTIVE'"),
        ),
    )

    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    client_profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client_profiles.id"))
    client_profile_version: Mapped[int] = mapped_column(default=1)
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assignments.id"))
    section_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sections.id", ondelete="SET NULL")
    )
    """The assignment's section, kept here so that budgets and analytics need no join."""
    status: Mapped[SessionStatus] = mapped_column(
        _enum(SessionStatus, "session_status"), default=SessionStatus.ACTIVE
    )
    model: Mapped[str] = mapped_column(String(100))
    kind: Mapped[SessionKind] = mapped_column(
        _enum(SessionKind, "session_kind"),
        default=SessionKind.PRACTICE,
        server_default=SessionKind.PRACTICE.value,
    )
    message_count: Mapped[int] = mapped_column(default=0)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    estimated_cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    @property
    def total_tokens(self) -> int:
        return total_tokens(self)


class Message(IdMixin, Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("session_id", "sequence_number"),
        UniqueConstraint("session_id", "idempotency_key"),
        Index("ix_messages_created", "created_at"),
        # One reply in flight per session: a second sendMessage meanwhile is a CONFLICT.
        Index(
            "uq_messages_one_streaming",
            "session_id",
            unique=True,
            sqlite_where=text("status = 'STREAMING'"),
            postgresql_where=text("status = 'STREAMING'"),
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    sequence_number: Mapped[int]
    role: Mapped[MessageRole] = mapped_column(_enum(MessageRole, "message_role"))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MessageStatus] = mapped_column(
        _enum(MessageStatus, "message_status"), default=MessageStatus.COMPLETE
    )
    token_count: Mapped[int | None]
    token_count_estimated: Mapped[bool] = mapped_column(default=False)
    is_fallback: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    streaming_since: Mapped[datetime | None]
    """When the reply was last asked for."""
    # While it streams, a reply is leased to the process streaming it, which renews the
    # lease (and stores the text so far in `content`) every few seconds. A reply whose lease
    # ran out belongs to no running process: any process interrupts it (see
    # api.conversations.outcomes).
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    prompt_tokens: Mapped[int | None]
    """The prompt's estimated size while the reply streams, to bill a reply whose process
    died before it could record its call."""


class SessionFeedback(IdMixin, CreatedAtMixin, Base):
    """The student's rating of a finished practice session."""

    __tablename__ = "session_feedback"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_session_feedback_created", "created_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True
    )
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    rating: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="")


# A test conversation is one held by a teacher or an admin (trying a client profile), not a
# student's practice: the role of whoever holds it decides, here and nowhere else.
def holds_test_conversations(role: Role) -> bool:
    return role is not Role.STUDENT


def held_as_test(student_id_column):
    """SQL: the sessions (or rollup rows) whose holder is a teacher or an admin."""
    return student_id_column.in_(select(User.id).where(User.role != Role.STUDENT))
