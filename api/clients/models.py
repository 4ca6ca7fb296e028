from __future__ import annotations

import uuid
from datetime import datetime

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
