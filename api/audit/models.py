from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, utcnow


class AuditEntry(IdMixin, Base):
    """One administrative change: who made it, when (UTC), what, and from where.

    Never updated. The actor is kept as an id (and the API key, when a key acted), not as a
    name or email: erasing a person leaves the log exact without copying their details."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_at", "at", "id"),
        Index("ix_audit_entries_action_at", "action", "at"),
        Index("ix_audit_entries_actor_at", "actor_id", "at"),
        Index("ix_audit_entries_target", "target_kind", "target_id"),
    )

    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None]
    """The API key the actor acted through, when it was a key (no foreign key: a log
    outlives what it mentions)."""
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(64))
