"""Prometheus metrics (served on /metrics). Counters are process-wide, as Prometheus
expects; the exact money figures are in the database, these are for dashboards."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

TURN_SECONDS = Histogram(
    "practicum_turn_seconds",
    "Time from asking the model to the whole reply",
    ["model"],
    buckets=SECONDS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "practicum_time_to_first_token_seconds",
    "Time from asking the model to its first text",
    ["model"],
    buckets=SECONDS,
)
UPSTREAM_ERRORS = Counter(
    "practicum_upstream_errors", "Failed model calls by kind", ["provider", "model", "kind"]
)
TOKENS = Counter("practicum_tokens", "Tokens billed by the providers", ["model", "kind"])
COST = Counter("practicum_cost_usd", "Cost of model calls in US dollars", ["model"])
REPLIES = Counter("practicum_replies", "Replies by how they ended", ["status"])
RATE_LIMITED = Counter("practicum_rate_limited", "Requests refused by a rate limit", ["rule"])
RATE_LIMIT_STORE_ERRORS = Counter(
    "practicum_rate_limit_store_errors", "Requests let through because Redis was unreachable"
)
BUDGET_REFUSED = Counter(
    "practicum_budget_refused", "Turns refused because a budget was used up", ["scope", "period"]
)
COST_ALERTS = Counter("practicum_cost_alerts", "Cost alerts fired", ["scope", "period"])


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
