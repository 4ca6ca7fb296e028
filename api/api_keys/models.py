from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin


class ApiKeyScope(StrEnum):
    FULL = "FULL"
    """Everything the key's role may do (narrowed to reads of one section when it has one)."""
    USAGE_ANALYTICS = "USAGE_ANALYTICS"
    """Read-only usage analytics (usageSummary, usage, dailyStats) and `me`; nothing else."""


class ApiKey(IdMixin, CreatedAtMixin, Base):
    """A key an integration sends as `Authorization: Bearer pk_...`. Only a hash of its
    secret is stored; it acts as its own service account (`user_id`), with the key's role,
    so that every rule and rate limit for people applies to it too."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_created", "created_at", "id"),)

    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters (`pk_` and 8 more), to tell keys apart; not secret."""
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256 (hex) of the whole key: the key has 256 random bits, so no slow hash is needed."""
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[ApiKeyScope] = mapped_column(
        Enum(ApiKeyScope, name="api_key_scope", native_enum=False, length=32)
    )
    section_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE")
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
