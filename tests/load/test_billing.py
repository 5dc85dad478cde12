"""Billing terms and monthly MRR (kenko.load.billing)."""

from __future__ import annotations

import pytest

from kenko.load.billing import monthly_mrr, parse_billing_term


@pytest.mark.parametrize(
    ("term", "months"),
    [
        ("monthly", 1),
        ("Monthly", 1),
        ("quarterly", 3),
        ("semiannual", 6),
        ("semi-annual", 6),
        ("biannual", 6),
        ("half-yearly", 6),
        ("annual", 12),
        ("yearly", 12),
        ("1-year", 12),
        ("2-year", 24),
        ("3 years", 36),
        ("18-months", 18),
        ("1 month", 1),
        ("1", 1),
        ("6", 6),
        ("12", 12),
        ("12.0", 12),
        ("one-time", 0),
        ("once", 0),
    ],
)
def test_billing__terms_are_read_as_months(term: str, months: int) -> None:
    assert parse_billing_term(term) == months


@pytest.mark.parametrize("term", ["1-Year-ish", "", "0", "weekly", "biennially", "-3"])
def test_billing__unknown_term_is_an_error_never_monthly(term: str) -> None:
    with pytest.raises(ValueError, match="unknown billing term"):
        parse_billing_term(term)


@pytest.mark.parametrize(
    ("price", "term", "quantity", "discount", "mrr"),
    [
        (20, "monthly", 5, 0, 100.0),
        (1200, "annual", 1, 0, 100.0),
        (4800, "2-year", 1, 0, 200.0),
        (5000, "one-time", 1, 0, 0.0),
        (49, "monthly", 1, 50, 0.0),
        (300, "quarterly", 1, 30, 90.0),
    ],
)
def test_billing__case11_monthly_mrr(
    price: float, term: str, quantity: float, discount: float, mrr: float
) -> None:
    assert monthly_mrr(price, parse_billing_term(term), quantity, discount) == mrr
