"""How every page shows the API's times, counts, shares, money and difficulty levels."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ui.theme import DIFFICULTY_LABELS

NO_FIGURE = "—"


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def readable_time(iso: str | None) -> str:
    """The API's UTC ISO time as "27 Nov 2026, 14:05 UTC"; "" for none."""
    if not iso:
        return ""
    moment = _moment(iso)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def clock(iso: str) -> str:
    """The API's UTC ISO time as "14:05" (UTC)."""
    return f"{_moment(iso):%H:%M}"


def readable_date(iso: str | None) -> str:
    """A date or date-time as "27 Nov 2026"; "" for none."""
    if not iso:
        return ""
    day = date.fromisoformat(iso) if len(iso) == 10 else _moment(iso).date()
    return f"{day.day} {day:%b %Y}"


def short_day(iso: str) -> str:
    """ "2026-11-27" as "27 Nov" (chart axes)."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%b}"


def count(number: int | None) -> str:
    return NO_FIGURE if number is None else f"{number:,}"


def money(amount: str | Decimal | int | None) -> str:
    """US dollars as the API gives them (a decimal string, "0.004215") for reading:
    "$1,234.50", "$0.50", "$0.0042" (small sums keep two significant figures, so that a
    cheap session is never "$0"), "$0.00"; "—" for none."""
    if amount is None or amount == "":
        return NO_FIGURE
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"${amount}"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value == 0 or value >= Decimal("0.01"):
        return f"{sign}${value.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
    places = max(2, -value.adjusted() + 1)  # two significant figures
    return f"{sign}${value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):f}"


def percent(share: str) -> str:
    """A share from 0 to 1 as the API gives it ("0.25") as a percent ("25%")."""
    try:
        value = Decimal(share) * 100
    except InvalidOperation:
        return share
    return f"{value.quantize(Decimal('0.1')).normalize():f}%"


def difficulty_text(level: int) -> str:
    """ "Moderate · 3/5"."""
    return f"{DIFFICULTY_LABELS.get(level, 'Unrated')} · {level}/5"


def duration(seconds: int | None) -> str:
    """A length of time for reading: "45 s", "4 min 05 s", "1 h 02 min"; "—" for none."""
    if seconds is None:
        return NO_FIGURE
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
