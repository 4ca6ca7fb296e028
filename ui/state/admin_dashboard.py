"""The admin dashboard: live figures from the `usageMetrics` subscription, the last 30 days
by day and by model, the active practice sessions and the latest cost alerts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx
from reflex.utils.prerequisites import get_and_validate_app

from ui import routes
from ui.format import NO_FIGURE, count, money, readable_time, short_day
from ui.graphql.client import UNREACHABLE, ApiError, subscribe
from ui.state.base import AppState

log = logging.getLogger(__name__)

HISTORY_DAYS = 30
ACTIVE_SESSIONS_SHOWN = 50
ALERTS_SHOWN = 10
PRESENCE_CHECK_SECONDS = 2.0  # how soon a left page stops its subscriptions
HISTORY_REFRESH_SECONDS = 10.0  # the charts follow the live figures, this often at most
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0


def _ms(value: int | None) -> str:
    return NO_FIGURE if value is None else f"{value:,} ms"


def _tab_connected(client_token: str) -> bool:
    """Whether the browser tab is still connected. Reflex has no typed API for this; its
    "Background Tasks" guide checks the app's `event_namespace.token_to_sid`, so we do too,
    and tests/ui/test_admin_dashboard.py fails when a Reflex upgrade changes it. The app is
    looked up when needed (not imported: `ui.ui` imports every page and state)."""
    namespace = get_and_validate_app().app.event_namespace
    return namespace is None or client_token in namespace.token_to_sid


def _clock(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%H:%M:%S} UTC"


def last_days(days: int) -> dict[str, str]:
    end = datetime.now(UTC).date()
    return {"start": (end - timedelta(days=days - 1)).isoformat(), "end": end.isoformat()}


class AdminDashboardState(AppState):
    # Live figures, as shown
    active_sessions: str = NO_FIGURE
    streaming_replies: str = NO_FIGURE
    messages_last_minute: str = NO_FIGURE
    tokens_today: str = NO_FIGURE
    cost_today: str = NO_FIGURE
    errors_last_hour: str = NO_FIGURE
    ttft_p50: str = NO_FIGURE
    ttft_p95: str = NO_FIGURE
    live: str = "connecting"  # connecting | live | reconnecting | stopped
    live_error: str = ""
    updated_at: str = ""  # HH:MM:SS UTC of the latest figures

    # History and lists
    loading: bool = True
    error: str = ""
    history_at: str = ""  # HH:MM:SS UTC when the last 30 days were read
    daily_chart: list[dict[str, Any]] = []
    daily_rows: list[dict[str, str]] = []
    model_chart: list[dict[str, Any]] = []
    model_rows: list[dict[str, str]] = []
    sessions: list[dict[str, str]] = []
    more_sessions: bool = False
    alerts: list[dict[str, str]] = []

    _generation: int = 0  # the newest page visit; older visits' subscriptions stop
    _shown_activity: list[int] = []
    _history_read: float = 0.0  # time.monotonic() of the last read of the last 30 days
    _history_behind: bool = False  # usage changed since then

    @rx.event
    def open(self):
        """`on_load`, after the role guard: follow the live figures, and load the rest."""
        if self.user_role != "ADMIN":
            return None
        return [AdminDashboardState.follow_live, AdminDashboardState.load]

    @rx.event
    async def load(self):
        self.loading, self.error = True, ""
        yield
        reply = await self._reply(
            asyncio.gather(
                self._history(),
                self._api("AdminActiveSessions", first=ACTIVE_SESSIONS_SHOWN),
                self._api("AdminCostAlerts", first=ALERTS_SHOWN),
            )
        )
        self.loading = False
        if reply.failed:
            self.error = reply.message
            yield reply.redirect
            return
        history, sessions, alerts = reply.data
        self._show_history(history)
        self._history_read = time.monotonic()
        self._show_sessions(sessions)
        self.alerts = [_alert_row(a) for a in alerts["costAlerts"]["nodes"]]

    @rx.event(background=True)
    async def follow_live(self):
        """Follow the live figures and cost alerts while this page stays open in this tab."""
        async with self:
            self._generation += 1
            generation = self._generation
            self.live, self.live_error = "connecting", ""
            token = self.token
        followers = [
            asyncio.create_task(
                self._follow("AdminUsageMetrics", token, self._on_metrics, shows_status=True)
            ),
            asyncio.create_task(self._follow("AdminCostAlertsLive", token, self._on_alert)),
        ]
        try:
            while await self._still_open(generation):
                _, running = await asyncio.wait(followers, timeout=PRESENCE_CHECK_SECONDS)
                if not running:
                    break
                await self._catch_up_history()
        finally:
            for follower in followers:
                follower.cancel()

    async def _still_open(self, generation: int) -> bool:
        """This visit is the newest, the tab is connected, and it still shows this page."""
        async with self:
            if generation != self._generation:
                return False
            token, path = self.router.session.client_token, self.router.url.path
        return path.rstrip("/") == routes.ADMIN_DASHBOARD and _tab_connected(token)

    async def _follow(
        self,
        operation: str,
        token: str,
        on_result: Callable[[dict], Awaitable[None]],
        shows_status: bool = False,
    ) -> None:
        """Subscribe, and subscribe again with a growing pause whenever the connection drops."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                async for result in subscribe(operation, token):
                    await on_result(result)
                    delay = RETRY_FIRST_SECONDS
            except ApiError as error:
                if error.code != UNREACHABLE:
                    async with self:
                        self.live, self.live_error = "stopped", error.message
                    return
            except Exception:
                log.exception("%s dropped", operation)
            if shows_status:
                async with self:
                    self.live = "reconnecting"
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _on_metrics(self, result: dict) -> None:
        figures = result["usageMetrics"]
        activity = [figures["activeSessions"], figures["streamingReplies"], figures["tokensToday"]]
        async with self:
            self._show_metrics(figures)
            changed, self._shown_activity = activity != self._shown_activity, activity
        if changed:
            await self._refresh_sessions()
            async with self:
                self._history_behind = True
            await self._catch_up_history()

    async def _on_alert(self, result: dict) -> None:
        alert = _alert_row(result["costAlerts"])
        async with self:
            others = [a for a in self.alerts if a["id"] != alert["id"]]
            self.alerts = [alert, *others][:ALERTS_SHOWN]

    def _history(self) -> Awaitable[dict[str, Any]]:
        """The last 30 days as the live cards count them: everyone's usage, tests included."""
        return self._api("AdminUsageHistory", range=last_days(HISTORY_DAYS))

    async def _catch_up_history(self) -> None:
        """The charts again, once usage changed, at most every HISTORY_REFRESH_SECONDS."""
        async with self:
            due = self._history_behind and (
                time.monotonic() - self._history_read >= HISTORY_REFRESH_SECONDS
            )
            if due:
                self._history_behind, self._history_read = False, time.monotonic()
        if not due:
            return
        try:
            history = await self._history()
        except ApiError:
            async with self:
                self._history_behind = True  # the next check tries again
            return
        async with self:
            self._show_history(history)

    async def _refresh_sessions(self) -> None:
        try:
            sessions = await self._api("AdminActiveSessions", first=ACTIVE_SESSIONS_SHOWN)
        except ApiError:
            return  # the table keeps what it showed; the next change tries again
        async with self:
            self._show_sessions(sessions)

    def _show_metrics(self, figures: dict[str, Any]) -> None:
        self.active_sessions = count(figures["activeSessions"])
        self.streaming_replies = count(figures["streamingReplies"])
        self.messages_last_minute = count(figures["messagesPerMinute"])
        self.tokens_today = count(figures["tokensToday"])
        self.cost_today = money(figures["costToday"])
        self.errors_last_hour = count(figures["errorsLastHour"])
        self.ttft_p50 = _ms(figures["timeToFirstTokenP50Ms"])
        self.ttft_p95 = _ms(figures["timeToFirstTokenP95Ms"])
        self.updated_at = _clock(figures["at"])
        self.live, self.live_error = "live", ""

    def _show_history(self, data: dict[str, Any]) -> None:
        self.history_at = _clock(datetime.now(UTC).isoformat())
        days = data["dailyStats"]
        # Charts need numbers; the tables show each cost exactly as the API gives it.
        self.daily_chart = [
            {"day": short_day(d["day"]), "tokens": d["tokensUsed"], "cost": float(d["cost"])}
            for d in days
        ]
        self.daily_rows = [
            {
                "day": short_day(d["day"]),
                "sessions": count(d["sessionsCreated"]),
                "messages": count(d["messagesStored"]),
                "tokens": count(d["tokensUsed"]),
                "cost": money(d["cost"]),
                "errors": count(d["errors"]),
            }
            for d in reversed(days)
        ]
        models = data["usage"]
        self.model_chart = [
            {
                "model": m["label"],
                "tokens": m["totals"]["totalTokens"],
                "cost": float(m["totals"]["cost"]),
            }
            for m in models
        ]
        self.model_rows = [
            {
                "model": m["label"],
                "sessions": count(m["sessions"]),
                "messages": count(m["totals"]["messages"]),
                "tokens": count(m["totals"]["totalTokens"]),
                "cost": money(m["totals"]["cost"]),
            }
            for m in models
        ]

    def _show_sessions(self, data: dict[str, Any]) -> None:
        connection = data["sessions"]
        self.sessions = [
            {
                "id": s["id"],
                "student": (s["student"] or {}).get("name", "—"),
                "client": (s["clientProfile"] or {}).get("name", "—"),
                "model": s["model"],
                "started": readable_time(s["startedAt"]),
                "messages": count(s["messageCount"]),
                "cost": money(s["estimatedCost"]),
                "href": routes.transcript(s["id"]),
            }
            for s in connection["nodes"]
        ]
        self.more_sessions = connection["pageInfo"]["hasNextPage"]

    @rx.var
    def reconnect_note(self) -> str:
        shown = f" The figures are from {self.updated_at}." if self.updated_at else ""
        return f"The live connection dropped; reconnecting…{shown}"

    @rx.var
    def has_model_usage(self) -> bool:
        return len(self.model_rows) > 0

    @rx.var
    def has_cost(self) -> bool:
        return any(day["cost"] > 0 for day in self.daily_chart)

    @rx.var
    def has_daily_usage(self) -> bool:
        return any(row["tokens"] != "0" or row["messages"] != "0" for row in self.daily_rows)


def _alert_row(alert: dict[str, Any]) -> dict[str, str]:
    return {
        "id": alert["id"],
        "message": alert["message"],
        "percent": f"{alert['percent']} %",
        "spent": f"{money(alert['spentUsd'])} of {money(alert['limitUsd'])}",
        "time": readable_time(alert["createdAt"]),
    }
