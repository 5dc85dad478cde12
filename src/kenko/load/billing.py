"""Billing terms and monthly recurring revenue.

A line item's price covers one billing period; its MRR is that price spread over the
period's months. One-time fees are not recurring (MRR 0). A term kenko cannot read is an
error: counting it as monthly would overstate MRR twelvefold for an annual plan.
"""

from __future__ import annotations

import re

_NAMED = {
    "monthly": 1,
    "month": 1,
    "quarterly": 3,
    "quarter": 3,
    "semiannual": 6,
    "semiannually": 6,
    "biannual": 6,
    "biannually": 6,
    "halfyearly": 6,
    "halfyear": 6,
    "annual": 12,
    "annually": 12,
    "yearly": 12,
    "year": 12,
    "onetime": 0,
    "once": 0,
    "oneoff": 0,
}
_YEARS = re.compile(r"^(\d+)(?:y|yr|yrs|year|years)$")
_MONTHS = re.compile(r"^(\d+)(?:mo|month|months)$")
_BARE = re.compile(r"^(\d+)(?:\.0+)?$")


def parse_billing_term(text: str) -> int:
    """Months in one billing period of ``text``; 0 for a one-time charge.

    Reads monthly, quarterly, semiannual / biannual / half-yearly, annual / yearly,
    "N-year(s)", "N-month(s)", a bare number of months and one-time / once.
    """
    key = re.sub(r"(?<=\w)[\s_\-]+(?=\w)", "", str(text).strip().lower())
    if key in _NAMED:
        return _NAMED[key]
    for pattern, per in ((_YEARS, 12), (_MONTHS, 1), (_BARE, 1)):
        match = pattern.match(key)
        if match and int(match.group(1)) > 0:
            return int(match.group(1)) * per
    raise ValueError(
        f"unknown billing term {text!r}; write monthly, quarterly, semiannual, annual, "
        "'2-year', '18-months', a number of months or one-time"
    )


def monthly_mrr(
    price: float, months: int, quantity: float = 1.0, discount: float = 0.0
) -> float:
    """MRR of a line item: max(0, price × quantity − discount) / months (0 if one-time).

    ``discount`` is an amount taken off each invoice, not a fraction.
    """
    if months == 0:
        return 0.0
    return max(0.0, price * quantity - discount) / months


# The same rule as SQL over the loader's parsed columns (see kenko.load.subscriptions).
MRR_SQL = (
    "CASE WHEN {months} = 0 THEN 0.0 "
    "ELSE greatest(0.0, {price} * {quantity} - {discount}) / {months} END"
)
