from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin


class UsageRecord(IdMixin, CreatedAtMixin, Base):
    """One model call as the provider billed it."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_created", "created_at"),
        Index("ix_usage_records_session", "session_id"),
        Index("ix_usage_records_user_created", "user_id", "created_at"),
        Index("ix_usage_records_model_created", "model", "created_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    estimated: Mapped[bool] = mapped_column(default=False)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    ttft_ms: Mapped[int | None]
    latency_ms: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=1)
