"""How the pages write money and times: one helper each, so that a fix lands everywhere."""

import pytest

from ui.format import clock, money


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "$0.00"),
        ("12.5", "$12.50"),
        ("1234.5", "$1,234.50"),
        ("0.105", "$0.11"),  # to the cent, half up
        ("0.004215", "$0.0042"),  # a cheap session is never "$0"
        ("0.000012345", "$0.000012"),
        ("-3", "-$3.00"),
        (None, "—"),
    ],
)
def test_money_is_written_to_the_cent_and_small_sums_to_two_significant_figures(amount, shown):
    assert money(amount) == shown


def test_clock_is_the_utc_hour_and_minute():
    assert clock("2026-11-27T14:05:09+00:00") == "14:05"
    assert clock("2026-11-27T15:05:09+01:00") == "14:05"
