"""How the teacher's class pages show the API's times, counts and shares."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation


def readable_time(iso: str | None) -> str:
    """ "2026-11-27T14:05:00+00:00" → "27 Nov 2026, 14:05 UTC"; "" when there is none."""
    if not iso:
        return ""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def readable_day(iso: str) -> str:
    """ "2026-11-27" → "27 Nov"."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%b}"


def count(number: int) -> str:
    return f"{number:,}"


def percent(share: str) -> str:
    """A share from 0 to 1, as the API gives it ("0.25"), as a percent ("25%")."""
    try:
        value = Decimal(share) * 100
    except InvalidOperation:
        return share
    return f"{value.quantize(Decimal('0.1')).normalize():f}%"
