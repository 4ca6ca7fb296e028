"""Cost alerts leave the process: on the broker (the `costAlerts` subscription), in the
log, and as JSON POSTed to PRACTICUM_ALERT_WEBHOOK_URL when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from api.events.broker import Broker
from api.usage.models import BudgetScope, CostAlert
from api.usage.pricing import usd

log = logging.getLogger("practicum.alerts")

COST_ALERTS_CHANNEL = "cost-alerts"
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT_SECONDS = 5.0
ALERT_CLAIM_SECONDS = 7 * 24 * 3600  # an alert is told once, by one process


def describe(alert: CostAlert) -> str:
    scope = {
        BudgetScope.GLOBAL: "everyone",
        BudgetScope.SECTION: f"section {alert.section_id}",
        BudgetScope.STUDENT: f"student {alert.student_id}",
    }[alert.scope]
    return (
        f"{alert.percent}% of the {alert.period.value.lower()} budget for {scope} is spent: "
        f"{usd(alert.spent)} of {usd(alert.limit_usd)}"
    )


def as_json(alert: CostAlert) -> dict:
    return {
        "type": "cost_alert",
        "id": str(alert.id),
        "budgetId": str(alert.budget_id),
        "scope": alert.scope.value,
        "sectionId": str(alert.section_id) if alert.section_id else None,
        "studentId": str(alert.student_id) if alert.student_id else None,
        "period": alert.period.value,
        "periodStart": alert.period_start.isoformat(),
        "percent": alert.percent,
        "spentUsd": str(alert.spent),
        "limitUsd": str(alert.limit_usd),
        "createdAt": alert.created_at.isoformat(),
        "text": describe(alert),
    }


def publish(broker: Broker, alerts: list[CostAlert]) -> None:
    """Hand stored alerts to the subscribers, the log and the webhook (after commit)."""
    for alert in alerts:
        broker.publish(COST_ALERTS_CHANNEL, alert)


class AlertNotifier:
    """Hears the alerts every process stores and tells the log and the webhook, once per
    alert whatever the number of processes (the first to claim it tells)."""

    def __init__(self, broker: Broker, webhook_url: str | None) -> None:
        self.broker = broker
        self.webhook_url = webhook_url
        self._task: asyncio.Task | None = None
        self._posts: set[asyncio.Task] = set()

    def start(self) -> None:
        subscription = self.broker.subscribe(COST_ALERTS_CHANNEL)
        self._task = asyncio.create_task(self._listen(subscription), name="cost-alerts")

    async def _listen(self, subscription) -> None:
        async with subscription:
            async for alert in subscription:
                if not await self.broker.claim(f"alert:{alert.id}", ALERT_CLAIM_SECONDS):
                    continue
                log.warning("cost alert: %s", describe(alert), extra={"alert": as_json(alert)})
                if self.webhook_url:
                    post = asyncio.create_task(self._post(as_json(alert)))
                    self._posts.add(post)
                    post.add_done_callback(self._posts.discard)

    async def _post(self, body: dict) -> None:
        try:
            await self._deliver(body)
        except asyncio.CancelledError:
            log.error("shutting down: alert %s not delivered to the webhook", body["id"])
            raise

    async def _deliver(self, body: dict) -> None:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
                try:
                    response = await client.post(self.webhook_url, json=body)
                    if response.status_code < 500:
                        if response.is_error:
                            log.error(
                                "alert webhook refused the alert: HTTP %s", response.status_code
                            )
                        return
                except httpx.HTTPError as exc:
                    log.warning(
                        "alert webhook unreachable (attempt %d): %s %s",
                        attempt,
                        type(exc).__name__,
                        exc,
                    )
                if attempt < WEBHOOK_ATTEMPTS:
                    await asyncio.sleep(0.5 * 2**attempt)
        log.error(
            "alert webhook failed %d times; alert %s not delivered", WEBHOOK_ATTEMPTS, body["id"]
        )

    async def aclose(self) -> None:
        """Give alerts being posted a few seconds, then stop (and say which were lost)."""
        if self._posts:
            await asyncio.wait(self._posts, timeout=WEBHOOK_TIMEOUT_SECONDS)
        for post in self._posts:
            post.cancel()  # nothing happens to those already done
        await asyncio.gather(*self._posts, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
