"""The price table: exact Decimal dollars per call, defaults and configured overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.config import Settings
from api.llm.base import Usage
from api.usage.pricing import PriceTable, usd

A_TURN = Usage(input_tokens=1200, output_tokens=150, cache_write_tokens=4100, cache_read_tokens=0)
CACHED_TURN = Usage(input_tokens=30, output_tokens=150, cache_read_tokens=5300)


def test_haiku_and_sonnet_cost_what_anthropic_charges():
    prices = PriceTable()
    # Haiku 4.5: $1 input, $5 output, cache write 1.25x, cache read 0.1x (per million).
    assert prices.cost("claude-haiku-4-5", A_TURN) == Decimal("0.007075")
    assert prices.cost("claude-haiku-4-5", CACHED_TURN) == Decimal("0.00131")
    # Sonnet 4.5 / 4.6: $3 input, $15 output.
    assert prices.cost("claude-sonnet-4-5", A_TURN) == Decimal("0.021225")
    assert prices.cost("claude-sonnet-4-6", CACHED_TURN) == Decimal("0.00393")


def test_dated_snapshots_cost_what_their_alias_costs():
    prices = PriceTable()
    assert prices.cost("claude-haiku-4-5-20251001", A_TURN) == prices.cost(
        "claude-haiku-4-5", A_TURN
    )


def test_the_simulator_and_unknown_models_cost_nothing():
    prices = PriceTable()
    assert prices.cost("practicum-simulator", A_TURN) == 0
    assert prices.cost("llama-3-70b", A_TURN) == 0


def test_prices_come_from_configuration_as_json(monkeypatch):
    monkeypatch.setenv(
        "PRACTICUM_PRICES",
        '{"claude-haiku-4-5": {"input": "0.8", "output": "4"}, "llama-3-70b": {"output": "0.5"}}',
    )
    prices = PriceTable(Settings().prices)
    haiku = prices.price("claude-haiku-4-5")
    assert (haiku.input, haiku.output) == (Decimal("0.8"), Decimal("4"))
    assert haiku.cache_read == Decimal("0.1")  # not overridden: stays the default
    assert prices.cost("llama-3-70b", Usage(output_tokens=2_000_000)) == Decimal("1")


def test_costs_add_up_exactly_over_many_calls():
    prices = PriceTable()
    total = sum((prices.cost("claude-haiku-4-5", CACHED_TURN) for _ in range(1000)), Decimal(0))
    assert total == Decimal("1.31")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "$0.00"),
        ("0.005", "$0.005"),  # never "$0.01" (nor "$0.00")
        ("0.0123", "$0.0123"),  # never "$0.01"
        ("0.000000001", "$0.000000001"),
        ("0.10", "$0.10"),
        ("20", "$20.00"),
        ("1E+3", "$1,000.00"),
        ("1000000.005", "$1,000,000.005"),
    ],
)
def test_money_reads_exactly_with_at_least_the_cents(amount, text):
    assert usd(Decimal(amount)) == text
