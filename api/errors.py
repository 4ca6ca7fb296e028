"""Errors that services raise. Each carries a stable code; the GraphQL layer maps them in one place.

Each domain subclasses `PracticumError` once (e.g. `ClientProfileError`) so logs say where a
failure came from; the code, not the class, is what clients see.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    RATE_LIMITED = "RATE_LIMITED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"  # this server is restarting: the same request may go through soon
    INTERNAL = "INTERNAL"


class PracticumError(Exception):
    """A failure a person can act on: a stable code, a readable message, optional details."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def not_found(cls, what: str) -> PracticumError:
        return cls(ErrorCode.NOT_FOUND, f"{what} was not found, or you do not have access to it.")

    @classmethod
    def forbidden(cls, message: str) -> PracticumError:
        return cls(ErrorCode.FORBIDDEN, message)

    @classmethod
    def conflict(cls, message: str, **details: Any) -> PracticumError:
        return cls(ErrorCode.CONFLICT, message, **details)

    @classmethod
    def unauthenticated(cls, message: str = "Please log in to continue.") -> PracticumError:
        return cls(ErrorCode.UNAUTHENTICATED, message)

    @classmethod
    def invalid(cls, field: str, message: str) -> PracticumError:
        return cls.invalid_fields({field: message})

    @classmethod
    def invalid_fields(cls, problems: dict[str, str]) -> PracticumError:
        text = "; ".join(problems.values())
        fields = [{"field": name, "message": msg} for name, msg in problems.items()]
        return cls(ErrorCode.BAD_USER_INPUT, text, fields=fields)


class FieldChecker:
    """Collects every problem with an input so the person sees them all at once."""

    def __init__(self) -> None:
        self.problems: dict[str, str] = {}

    def text(
        self, field: str, value: str | None, *, label: str, max_chars: int, required: bool = True
    ) -> str | None:
        if value is None:
            if required:
                self.problems[field] = f"{label} is required."
            return None
        value = value.strip()
        if required and not value:
            self.problems[field] = f"{label} cannot be empty."
        elif len(value) > max_chars:
            self.problems[field] = (
                f"{label} is too long ({len(value)} characters; at most {max_chars})."
            )
        elif "\x00" in value:  # PostgreSQL cannot store it
            self.problems[field] = f"{label} contains a NUL character; remove it and try again."
        return value

    def int_range(self, field: str, value: int | None, *, label: str, low: int, high: int) -> None:
        if value is not None and not low <= value <= high:
            self.problems[field] = f"{label} must be between {low} and {high}."

    def add(self, field: str, message: str) -> None:
        self.problems[field] = message

    def raise_if_any(self, error_type: type[PracticumError] = PracticumError) -> None:
        if self.problems:
            raise error_type.invalid_fields(self.problems)
