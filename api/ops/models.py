from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin


class ErrorEvent(IdMixin, CreatedAtMixin, Base):
    """Something went wrong that an admin should be able to see later."""

    __tablename__ = "error_events"
    __table_args__ = (
        Index("ix_error_events_created", "created_at"),
        Index("ix_error_events_category_created", "category", "created_at"),
        Index("ix_error_events_session", "session_id"),
    )

    category: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    upstream_status: Mapped[int | None]
    upstream_request_id: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(64))
    """Practicum's own request id: the same as in the logs."""
    model: Mapped[str | None] = mapped_column(String(100))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
