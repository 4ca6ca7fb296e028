"""/metrics in the Prometheus text format, as a scraper reads it after real turns against
the fake Anthropic server: tokens and cost by model, latency histograms, upstream errors by
kind, replies by ending, and refusals by rule.

The registry is process-wide, so every check is on what a scrape before and a scrape after
the test's own turns differ by.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.anthropic_server import Fault, Reply
from tests.ops.conftest import HAIKU

TOKEN_KINDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_write": "cache_write_tokens",
    "cache_read": "cache_read_tokens",
}


class Scrape:
    """One read of /metrics: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)


async def scrape(gql) -> Scrape:
    response = await gql.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after(name, **labels) - before(name, **labels)


def haiku_cost(billed: dict) -> Decimal:
    """Haiku 4.5: $1/M input, $5/M output, cache writes 1.25x input, reads 0.1x."""
    dollars = (
        billed["input_tokens"]
        + 5 * billed["output_tokens"]
        + Decimal("1.25") * billed["cache_write_tokens"]
        + Decimal("0.1") * billed["cache_read_tokens"]
    )
    return dollars / 1_000_000


async def test_tokens_cost_and_latency_of_real_turns_show_on_metrics(deploy, fake_anthropic):
    app = await deploy()
    student = await app.student()
    before = await scrape(app.gql)
    fake_anthropic.enqueue(Reply(text="I haven't slept properly in weeks."), Reply(text="Fine."))
    assert (await student.turn("How have you been sleeping?"))["id"]
    await student.turn("And work?")
    after = await scrape(app.gql)

    billed = fake_anthropic.billed
    assert len(billed) == 2
    for kind, field in TOKEN_KINDS.items():
        expected = sum(call[field] for call in billed)
        assert grew(before, after, "practicum_tokens_total", model=HAIKU, kind=kind) == expected
    assert sum(call["output_tokens"] for call in billed) > 0
    cost = sum(haiku_cost(call) for call in billed)
    assert grew(before, after, "practicum_cost_usd_total", model=HAIKU) == pytest.approx(
        float(cost), rel=1e-9
    )
    for histogram in ("practicum_turn_seconds", "practicum_time_to_first_token_seconds"):
        assert grew(before, after, f"{histogram}_count", model=HAIKU) == 2
        assert grew(before, after, f"{histogram}_sum", model=HAIKU) > 0
        assert grew(before, after, f"{histogram}_bucket", model=HAIKU, le="+Inf") == 2
    assert grew(before, after, "practicum_replies_total", status="COMPLETE") == 2


async def test_upstream_errors_are_counted_by_kind_and_a_failed_reply_by_its_ending(
    deploy, fake_anthropic
):
    app = await deploy(retry_max_attempts=3)
    student = await app.student()
    before = await scrape(app.gql)
    # A turn that gets through on the third try, then one that never does.
    fake_anthropic.enqueue(Fault.status(429, retry_after=0), Fault.status(529), Reply())
    assert (await student.turn("How are you?"))["id"]
    fake_anthropic.enqueue(*[Fault.status(529)] * 3)
    await student.turn("Still there?")
    after = await scrape(app.gql)

    def errors(kind: str) -> float:
        labels = {"provider": "anthropic", "model": HAIKU, "kind": kind}
        return grew(before, after, "practicum_upstream_errors_total", **labels)

    assert errors("rate_limited") == 1
    assert errors("overloaded") == 4
    assert grew(before, after, "practicum_replies_total", status="COMPLETE") == 1
    assert grew(before, after, "practicum_replies_total", status="FAILED") == 1
    # Only the call that answered was billed, and only it has a latency.
    assert len(fake_anthropic.billed) == 1
    assert grew(before, after, "practicum_turn_seconds_count", model=HAIKU) == 1
    output = fake_anthropic.billed[0]["output_tokens"]
    assert grew(before, after, "practicum_tokens_total", model=HAIKU, kind="output") == output


async def test_a_rate_limited_message_is_counted_by_its_rule_and_costs_nothing(
    deploy, fake_anthropic
):
    app = await deploy(rate_limit_messages_per_student="2/minute")
    student = await app.student()
    before = await scrape(app.gql)
    await student.turn("Hello.")
    await student.turn("How are you?")
    refused = (await student.send("One more?")).json()
    after = await scrape(app.gql)

    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert grew(before, after, "practicum_rate_limited_total", rule="messages_per_student") == 1
    assert grew(before, after, "practicum_rate_limited_total", rule="messages_global") == 0
    assert len(fake_anthropic.requests) == 2  # the refused message never reached the model
    assert grew(before, after, "practicum_replies_total", status="COMPLETE") == 2


SET_BUDGET = """
mutation($input: SetBudgetInput!) { setBudget(input: $input) { budget { id } } }
"""


async def test_a_turn_refused_by_a_budget_is_counted_by_scope_and_period(deploy, fake_anthropic):
    app = await deploy()
    student = await app.student()
    budget = {"scope": "STUDENT", "period": "DAILY", "limitUsd": "0.0001"}
    await app.gql.ok(
        SET_BUDGET, {"input": {**budget, "studentId": student.user_id}}, await app.admin_token()
    )
    before = await scrape(app.gql)
    refused = (await student.send("Hello?")).json()
    after = await scrape(app.gql)

    assert refused["errors"][0]["extensions"]["code"] == "BUDGET_EXCEEDED"
    refusals = grew(
        before, after, "practicum_budget_refused_total", scope="STUDENT", period="DAILY"
    )
    assert refusals == 1
    assert fake_anthropic.requests == []


LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"


async def test_refused_logins_and_requests_are_counted_by_their_rule(deploy):
    app = await deploy(rate_limit_logins_per_email="2/minute", http_rate_limit_per_ip="8/minute")
    before = await scrape(app.gql)
    codes = []
    for _ in range(3):
        wrong = {"e": "someone@school.test", "p": "not the password"}
        codes.append((await app.gql.error(LOGIN, wrong))["extensions"]["code"])
    assert codes == ["UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]
    statuses = [(await app.gql.post("{ __typename }")).status_code for _ in range(6)]
    after = await scrape(app.gql)  # /metrics itself is not limited

    assert statuses == [200] * 5 + [429]
    assert grew(before, after, "practicum_rate_limited_total", rule="logins_per_email") == 1
    assert grew(before, after, "practicum_rate_limited_total", rule="http_per_ip") == 1
