from __future__ import annotations

import uuid

import strawberry

from api.errors import PracticumError


def parse_id(value: strawberry.ID | str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise PracticumError.invalid(field, f"`{field}` is not a valid id.") from exc


def parse_optional_id(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    return None if value is None else parse_id(value, field)


def to_id(value: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(str(value))
