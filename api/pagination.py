"""Keyset pagination shared by every list: stable under inserts, cursors opaque to clients."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, TypeDecorator, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.config import Settings
from api.db.base import Money
from api.errors import PracticumError

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: str | None = None

    @classmethod
    def of(cls, settings: Settings, first: int | None, after: str | None) -> PageRequest:
        size = settings.default_page_size if first is None else first
        if not 0 <= size <= settings.max_page_size:
            raise PracticumError.invalid(
                "first", f"first must be between 0 and {settings.max_page_size}."
            )
        return cls(first=size, after=after)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


@dataclass(frozen=True)
class Order:
    """The columns a list is sorted by, all in one direction, the last one unique."""

    columns: tuple[InstrumentedAttribute, ...]
    descending: bool = False

    def apply(self, stmt: Select) -> Select:
        return stmt.order_by(*(c.desc() if self.descending else c.asc() for c in self.columns))

    def after(self, stmt: Select, cursor: str) -> Select:
        values = self.decode(cursor)
        # Bind each value with its column's type, so it is stored-format on every backend.
        key = tuple_(*self.columns)
        bound = tuple_(*(literal(v, c.type) for c, v in zip(self.columns, values, strict=True)))
        return stmt.where(key < bound if self.descending else key > bound)

    def encode(self, item: Any) -> str:
        values = [_to_json(getattr(item, c.key)) for c in self.columns]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()

    def decode(self, cursor: str) -> list[Any]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if len(raw) != len(self.columns):
                raise ValueError("wrong length")
            return [_from_json(c, v) for c, v in zip(self.columns, raw, strict=True)]
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            raise PracticumError.invalid(
                "after", "The `after` cursor is not valid; use a cursor from a previous page."
            ) from exc


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _from_json(column: InstrumentedAttribute, value: Any) -> Any:
    column_type = column.type
    if isinstance(column_type, Money):  # stored as nano-dollars, compared as dollars
        return _decimal(value)
    if isinstance(column_type, TypeDecorator):  # e.g. UTCDateTime: its python_type is `object`
        column_type = column_type.impl_instance
    python_type = column_type.python_type
    if python_type is uuid.UUID:
        return uuid.UUID(_storable_text(value))
    if python_type is datetime:
        moment = datetime.fromisoformat(_storable_text(value))
        if moment.tzinfo is None:
            raise ValueError("expected a datetime with a time zone")
        return moment
    if python_type is Decimal:
        return _decimal(value)
    if not isinstance(value, python_type):
        raise TypeError(f"expected {python_type.__name__}")
    if isinstance(value, str):
        _storable_text(value)
    if isinstance(value, int) and not -(2**31) <= value < 2**31:
        raise ValueError("integer out of range")
    return value


def _decimal(value: Any) -> Decimal:
    try:
        amount = Decimal(_storable_text(value))
    except InvalidOperation as exc:
        raise ValueError("expected a decimal number") from exc
    if not amount.is_finite() or abs(amount) >= 10**9:
        raise ValueError("expected a sum of money")
    return amount


def _storable_text(value: Any) -> str:
    """Text a database can compare against (PostgreSQL refuses NUL characters)."""
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("expected text")
    return value


async def paginate(session: AsyncSession, stmt: Select, order: Order, page: PageRequest) -> Page:
    """Run `stmt` sorted by `order`, one page after `page.after`."""
    if page.after:
        stmt = order.after(stmt, page.after)
    rows = list(await session.scalars(order.apply(stmt).limit(page.first + 1)))
    items = rows[: page.first]
    return Page(
        items=items,
        cursors=[order.encode(item) for item in items],
        has_next_page=len(rows) > page.first,
        has_previous_page=page.after is not None,
    )
