"""Declarative base and the column types every domain shares."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, MetaData, TypeDecorator, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NANOS_PER_USD = Decimal(1_000_000_000)


def utcnow() -> datetime:
    return datetime.now(UTC)


def insert_for(dialect: str):
    """`insert` with ON CONFLICT clauses for the backend: PostgreSQL's, else SQLite's."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """US dollars as Decimal, stored as whole nano-dollars so sums stay exact in SQL everywhere."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect) -> int | None:
        if value is None:
            return None
        nanos = Decimal(value) * NANOS_PER_USD
        if nanos != nanos.to_integral_value():
            raise ValueError(f"{value} USD is finer than a nano-dollar")
        return int(nanos)

    def process_result_value(self, value: int | None, dialect) -> Decimal | None:
        if value is None:
            return None
        if not value:
            return Decimal("0")
        dollars = (Decimal(value) / NANOS_PER_USD).normalize()
        # normalize() writes whole tens as 1E+1; keep whole amounts plain ("10")
        return dollars.quantize(Decimal(1)) if dollars == dollars.to_integral_value() else dollars


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_N_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), uuid.UUID: Uuid()}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
