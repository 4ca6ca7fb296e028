"""What model calls cost: one price table, in exact Decimal US dollars."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from api.llm.base import Usage

PER_TOKENS = Decimal(1_000_000)
NANO_DOLLAR = Decimal("0.000000001")  # what the database stores exactly
CACHE_WRITE_FACTOR = Decimal("1.25")  # 5-minute cache writes cost 1.25x input
CACHE_READ_FACTOR = Decimal("0.1")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal

    @classmethod
    def of(cls, input: str, output: str) -> Price:
        per_input = Decimal(input)
        return cls(
            input=per_input,
            output=Decimal(output),
            cache_write=per_input * CACHE_WRITE_FACTOR,
            cache_read=per_input * CACHE_READ_FACTOR,
        )

    def cost(self, usage: Usage) -> Decimal:
        cost = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.cache_write
            + usage.cache_read_tokens * self.cache_read
        ) / PER_TOKENS
        # Exact for the default prices; configured prices finer than a nano-dollar per
        # token are rounded once per call.
        return cost.quantize(NANO_DOLLAR, rounding=ROUND_HALF_EVEN).normalize()


CENT = Decimal("0.01")


def usd(amount: Decimal) -> str:
    """Dollars as every message writes them: exact, to the cent at least and with every
    sub-cent digit there is ($0.005, $0.0123, $20.00, $1,000,000.00), so that one amount
    never reads as two (or as nothing, rounded away)."""
    exact = amount.normalize()
    if exact.as_tuple().exponent > -2:
        exact = exact.quantize(CENT)
    return f"${exact:,f}"


FREE = Price(Decimal(0), Decimal(0), Decimal(0), Decimal(0))

DEFAULT_PRICES: dict[str, Price] = {
    "claude-haiku-4-5": Price.of("1", "5"),
    "claude-sonnet-4-5": Price.of("3", "15"),  # retires 2026-11-30; use 4.6
    "claude-sonnet-4-6": Price.of("3", "15"),
    "claude-opus-4-1": Price.of("15", "75"),
}


class PriceTable:
    """The default prices with the configured overrides on top. A model missing from the
    table (the simulator, a self-hosted model) costs nothing."""

    def __init__(self, overrides: dict[str, dict[str, Decimal]] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES)
        for model, fields in (overrides or {}).items():
            base = self.prices.get(model, FREE)
            self.prices[model] = Price(
                input=Decimal(fields.get("input", base.input)),
                output=Decimal(fields.get("output", base.output)),
                cache_write=Decimal(fields.get("cache_write", base.cache_write)),
                cache_read=Decimal(fields.get("cache_read", base.cache_read)),
            )

    def price(self, model: str) -> Price:
        if model in self.prices:
            return self.prices[model]
        # Dated snapshots ("claude-haiku-4-5-20251001") cost what their alias costs.
        for name, price in self.prices.items():
            if model.startswith(name + "-"):
                return price
        return FREE

    def cost(self, model: str, usage: Usage) -> Decimal:
        return self.price(model).cost(usage)

    def worst_case(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """The most a call can cost: every input token written to the cache (the dearest
        way to read input) and the longest reply."""
        price = self.price(model)
        dearest_input = max(price.input, price.cache_write)
        return (input_tokens * dearest_input + output_tokens * price.output) / PER_TOKENS
