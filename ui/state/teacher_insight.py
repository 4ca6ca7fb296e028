"""Usage and feedback for the teacher's sections over a range of whole UTC days."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import reflex as rx

from ui.format import count, money, percent, readable_date, short_day
from ui.state.base import AppState

DEFAULT_DAYS = 30


@dataclasses.dataclass
class DayRow:
    day: str = ""
    sessions: str = ""
    tokens: str = ""
    cost: str = ""


@dataclasses.dataclass
class UsageRow:
    label: str = ""
    sessions: str = ""
    messages: str = ""
    tokens: str = ""
    cost: str = ""


@dataclasses.dataclass
class FeedbackRow:
    client: str = ""
    ratings: str = ""
    average: str = ""
    positive: str = ""


def _usage_row(bucket: dict) -> UsageRow:
    totals = bucket["totals"]
    return UsageRow(
        label=bucket["label"],
        sessions=count(bucket["sessions"]),
        messages=count(totals["messages"]),
        tokens=count(totals["totalTokens"]),
        cost=money(totals["cost"]),
    )


def _day_problem(value: str, missing: str) -> str:
    if not value:
        return missing
    try:
        date.fromisoformat(value)
    except ValueError:
        return "Enter the day as YYYY-MM-DD."
    return ""


def _day_row(stat: dict) -> DayRow:
    return DayRow(
        day=short_day(stat["day"]),
        sessions=count(stat["sessionsCreated"]),
        tokens=count(stat["tokensUsed"]),
        cost=money(stat["cost"]),
    )


def _summary(summary: dict) -> dict[str, str]:
    totals = summary["totals"]
    return {
        "sessions": count(summary["sessions"]),
        "completed": count(summary["completedSessions"]),
        "messages": count(totals["messages"]),
        "tokens": count(totals["totalTokens"]),
        "cost": money(totals["cost"]),
        "average": money(summary["averageCostPerCompletedSession"]),
        "median": money(summary["medianCostPerCompletedSession"]),
        "cache": percent(totals["cacheReadShare"]),
    }


class TeacherInsightState(AppState):
    start: str = ""
    end: str = ""
    start_error: str = ""
    end_error: str = ""
    range_error: str = ""
    error: str = ""
    loading: bool = True
    period: str = ""  # of the figures shown

    summary: dict[str, str] = {}
    daily: list[DayRow] = []
    chart: list[dict[str, float | int | str]] = []
    by_student: list[UsageRow] = []
    by_client: list[UsageRow] = []
    feedback: list[FeedbackRow] = []

    @rx.event
    def set_start(self, value: str):
        self.start, self.start_error, self.range_error = value, "", ""

    @rx.event
    def set_end(self, value: str):
        self.end, self.end_error, self.range_error = value, "", ""

    @rx.event
    async def open(self):
        if not self.start or not self.end:
            today = datetime.now(UTC).date()
            self.start = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
            self.end = today.isoformat()
        async for update in self._fetch():
            yield update

    @rx.event
    async def show(self, _form: dict):
        async for update in self._fetch():
            yield update

    def _checked_range(self) -> dict[str, str] | None:
        self.start_error = _day_problem(self.start, "Choose the first day.")
        self.end_error = _day_problem(self.end, "Choose the last day.")
        if self.start_error or self.end_error:
            return None
        return {"start": self.start, "end": self.end}

    async def _fetch(self):
        self.error = self.range_error = ""
        span = self._checked_range()
        if span is None:
            return
        self.loading = True
        yield
        reply = await self._call("TeacherUsage", range=span)
        self.loading = False
        if reply.failed:
            self.range_error = reply.field("range")
            self.error = "" if self.range_error else f"Usage could not be loaded. {reply.message}"
            yield reply.redirect
            return
        self._show(reply.data)
        self.period = f"{readable_date(self.start)} to {readable_date(self.end)} (whole days, UTC)"

    def _show(self, data: dict) -> None:
        self.summary = _summary(data["usageSummary"])
        days = data["dailyStats"]
        self.daily = [_day_row(d) for d in days]
        # The chart needs numbers; the table beside it shows the exact cost.
        self.chart = [
            {"day": short_day(d["day"]), "tokens": d["tokensUsed"], "cost": float(d["cost"])}
            for d in days
        ]
        self.by_student = [_usage_row(b) for b in data["byStudent"]]
        self.by_client = [_usage_row(b) for b in data["byClient"]]
        self.feedback = [
            FeedbackRow(
                client=f["clientName"],
                ratings=count(f["ratings"]),
                average=f"{f['averageRating']} / 5",
                positive=percent(f["positiveShare"]),
            )
            for f in data["clientFeedback"]
        ]
