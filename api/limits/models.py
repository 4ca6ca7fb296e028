from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base

SPEC_CHARS = 100
THE_ROW = 1


class StoredRateLimits(Base):
    """The message and login limits as an admin last set them: one row (id 1). Without
    it, the environment's limits apply."""

    __tablename__ = "rate_limit_settings"
    __table_args__ = (CheckConstraint(f"id = {THE_ROW}", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    messages_per_student: Mapped[str] = mapped_column(String(SPEC_CHARS))
    messages_global: Mapped[str] = mapped_column(String(SPEC_CHARS))
    logins_per_address: Mapped[str] = mapped_column(String(SPEC_CHARS))
    logins_per_email: Mapped[str] = mapped_column(String(SPEC_CHARS))
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime]
