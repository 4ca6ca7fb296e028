from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Enum, ForeignKey, Index, String, Table, Text, UniqueConstraint, false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.clients.models import ClientProfile
from api.db.base import Base, CreatedAtMixin, IdMixin


class AssignmentStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


class Section(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "sections"

    teacher_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    join_code: Mapped[str] = mapped_column(String(16), unique=True)
    # Whether the join code also creates new accounts (sign-up); when closed it only
    # enrols students who already have an account.
    signup_open: Mapped[bool] = mapped_column(default=True, server_default=sa_true())


class Enrollment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("section_id", "student_id"),)

    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"))
    student_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)


assignment_clients = Table(
    "assignment_clients",
    Base.metadata,
    Column("assignment_id", ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True),
    Column("client_profile_id", ForeignKey("client_profiles.id"), primary_key=True, index=True),
)


class Assignment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_section_status", "section_id", "status"),)

    section_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sections.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    instructions: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None]
    status: Mapped[AssignmentStatus] = mapped_column(
        Enum(AssignmentStatus, name="assignment_status", native_enum=False, length=16),
        default=AssignmentStatus.DRAFT,
    )
    published_at: Mapped[datetime | None]
    rubric_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rubrics.id", ondelete="SET NULL"), index=True
    )
    """The rubric its sessions are evaluated against when they end (None: no feedback)."""
    release_feedback_on_completion: Mapped[bool] = mapped_column(
        default=False, server_default=false()
    )
    """Feedback on its sessions reaches the student as soon as it is ready (else a teacher
    releases each one)."""

    client_profiles: Mapped[list[ClientProfile]] = relationship(
        secondary=assignment_clients, lazy="selectin", order_by=ClientProfile.name
    )
