from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin, utcnow


class ClientProfile(IdMixin, CreatedAtMixin, Base):
    """A persona a teacher writes for students to practise with."""

    __tablename__ = "client_profiles"
    __table_args__ = (Index("ix_client_profiles_owner_name", "owner_id", "name"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(120))
    age: Mapped[int | None] = mapped_column(SmallInteger)
    background: Mapped[str] = mapped_column(Text, default="")
    presenting_concern: Mapped[str] = mapped_column(Text, default="")
    personality_traits: Mapped[list[str]] = mapped_column(JSON, default=list)
    communication_style: Mapped[str] = mapped_column(Text, default="")
    difficulty: Mapped[int] = mapped_column(SmallInteger, default=3)
    learning_goals: Mapped[str] = mapped_column(Text, default="")
    boundaries: Mapped[str] = mapped_column(Text, default="")
    opening_line: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str | None] = mapped_column(String(100))
    archived: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientCheck(IdMixin, CreatedAtMixin, Base):
    """A check of a client profile before publishing: probing messages sent to its model
    and each reply judged by the rules of `api.clients.leaks`."""

    __tablename__ = "client_checks"
    __table_args__ = (Index("ix_client_checks_profile_created", "client_profile_id", "created_at"),)

    client_profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("client_profiles.id", ondelete="CASCADE")
    )
    profile_version: Mapped[int]
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL")
    )
    """The throwaway conversation whose usage records hold the check's tokens and cost."""
    model: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(8), default="RUNNING")
    """RUNNING, then DONE (every probe judged) or FAILED (the check could not finish)."""
    verdict: Mapped[str | None] = mapped_column(String(8))
    """PASS, WARN or FAIL: the worst of the probes' grades, once DONE."""
    probes: Mapped[list[dict]] = mapped_column(JSON, default=list)
    """Per probe: key, label, message, grade, reason, excerpt."""
    total_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    duration_ms: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]
