from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, CreatedAtMixin, IdMixin, utcnow
from api.llm.base import TOKEN_KINDS

TOKEN_COLUMNS = TOKEN_KINDS  # records, sessions and the rollup each have these columns


class UsageKind(StrEnum):
    REPLY = "reply"  # a client's reply in a conversation
    EVALUATION = "evaluation"  # feedback on a finished session against a rubric
    CLIENT_CHECK = "client_check"  # a teacher's check of a client profile before publishing


class UsageRecord(IdMixin, CreatedAtMixin, Base):
    """One model call as the provider billed it."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_created", "created_at"),
        Index("ix_usage_records_session", "session_id"),
        Index("ix_usage_records_user_created", "user_id", "created_at"),
        Index("ix_usage_records_model_created", "model", "created_at"),
        Index("ix_usage_records_kind_created", "kind", "created_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(16), default=UsageKind.REPLY, server_default="reply")
    """What the call was for (`UsageKind`): analytics split by it, budgets count every kind."""
    evaluation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("evaluations.id", ondelete="SET NULL")
    )
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
    stands_in_for: Mapped[datetime | None]
    """Set on an estimate stored for a reply another process was streaming (its owner was
    stopped or lost its lease): when that stream began. The owner's own figures replace it
    if they come after all (`api.usage.service.replace_stand_ins`)."""


class DailyUsage(Base):
    """A session's messages, model calls, tokens and cost per day and model.

    Analytics and daily stats read this rollup instead of scanning every message; it grows
    in the same transactions as the messages and UsageRecords it sums.
    """

    __tablename__ = "daily_usage"
    __table_args__ = (
        Index("ix_daily_usage_session", "session_id"),
        Index("ix_daily_usage_section_day", "section_id", "day"),
        Index("ix_daily_usage_student_day", "student_id", "day"),
    )

    day: Mapped[date] = mapped_column(primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    # The session's, copied so that grouping and scoping need no join with sessions.
    student_id: Mapped[uuid.UUID]
    client_profile_id: Mapped[uuid.UUID]
    assignment_id: Mapped[uuid.UUID | None]
    section_id: Mapped[uuid.UUID | None]
    sessions: Mapped[int] = mapped_column(default=0)
    """1 on the row of the day and model of the session's first message, so that
    sessions are counted by summing, without a DISTINCT."""
    messages: Mapped[int] = mapped_column(default=0)
    calls: Mapped[int] = mapped_column(default=0)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cache_write_tokens: Mapped[int] = mapped_column(default=0)
    cache_read_tokens: Mapped[int] = mapped_column(default=0)
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))


class BudgetScope(StrEnum):
    GLOBAL = "GLOBAL"
    SECTION = "SECTION"
    STUDENT = "STUDENT"


class BudgetPeriod(StrEnum):
    DAILY = "DAILY"
    MONTHLY = "MONTHLY"


class Budget(IdMixin, CreatedAtMixin, Base):
    """A cost cap for a period (UTC day or month): for everyone, a section or a student."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("scope_key", "period"),)

    scope: Mapped[BudgetScope] = mapped_column(
        Enum(BudgetScope, name="budget_scope", native_enum=False, length=16)
    )
    section_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE")
    )
    student_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(60))
    """`global`, `section:<id>` or `student:<id>`: one budget per scope and period."""
    period: Mapped[BudgetPeriod] = mapped_column(
        Enum(BudgetPeriod, name="budget_period", native_enum=False, length=16)
    )
    limit_usd: Mapped[Decimal]
    alert_percents: Mapped[list[int]] = mapped_column(JSON)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetSpend(Base):
    """What a budget's scope has spent in one period; grows with the UsageRecords."""

    __tablename__ = "budget_spend"

    budget_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[date] = mapped_column(primary_key=True)
    spent: Mapped[Decimal] = mapped_column(default=Decimal(0))


class CostAlert(IdMixin, CreatedAtMixin, Base):
    """Spending reached a share of a budget: stored once per budget, period and share."""

    __tablename__ = "cost_alerts"
    __table_args__ = (
        UniqueConstraint("budget_id", "period_start", "percent"),
        Index("ix_cost_alerts_created", "created_at"),
    )

    budget_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    scope: Mapped[BudgetScope] = mapped_column(
        Enum(BudgetScope, name="budget_scope", native_enum=False, length=16)
    )
    section_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sections.id", ondelete="CASCADE")
    )
    student_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    period: Mapped[BudgetPeriod] = mapped_column(
        Enum(BudgetPeriod, name="budget_period", native_enum=False, length=16)
    )
    period_start: Mapped[date]
    percent: Mapped[int]
    spent: Mapped[Decimal]
    limit_usd: Mapped[Decimal]
