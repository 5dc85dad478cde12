"""Backtest counts split the scorer's active account-dates, up to the end of the data.

The store is shaped like the demo's: plans billed monthly, one line item per billing
period renewed on its end date, some plans ending for good, an add-on or two, daily
use for some accounts. The data ends on 2024-07-01 (the latest start).
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta
from itertools import pairwise

import factories as f
from kenko.settings import Settings
from kenko.validation.backtest import backtest
from kenko.warnings import FewChurnersWarning

SETTINGS = Settings()
MONTHS = [date(2024, m, 1) for m in range(1, 9)]  # 01-01 .. 08-01


def _store(store) -> None:
    """Eight accounts from 2024-01-01: kind 0 churns on 04-01, kind 1's last period
    ends on the data end (07-01), kind 2 renews into 07-01 .. 08-01, kind 3 has one
    open line item; odd accounts log in every other day."""
    f.account(store, "late", start=date(2024, 7, 1))
    last = {0: 3, 1: 6, 2: 7}
    for i in range(8):
        a, kind = f"a{i}", i % 4
        if kind == 3:
            f.account(store, a, start=MONTHS[0])
        else:
            f.account(store, a, start=MONTHS[0], end=MONTHS[1])
            for start, end in pairwise(MONTHS[1 : last[kind] + 1]):
                f.subscription(store, a, start=start, end=end)
        if i % 2:
            days = range(0, 200, 2)
            f.events(
                store,
                [
                    (a, "u", "login", datetime(2024, 1, 1, 9) + timedelta(d))
                    for d in days
                ],
            )


def _backtest(store, start: date, end: date):
    card = f.scorecard(
        [{"name": "Use", "weight": 1, "measures": [f.measure("logins")]}],
        bands=[{"name": "red", "below": 40}, {"name": "green"}],
        eligibility={"min_tenure": None},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewChurnersWarning)
        result = backtest(store, card, SETTINGS, start, end, "1mo", "90d", n_boot=20)
    return result.to_dict()["counts"]


def _adds_up(counts: dict[str, int]) -> bool:
    parts = ("scored", "insufficient_data", "censored", "unlabelled")
    return counts["active"] == sum(counts[k] for k in parts)


def test_backtest_counts__active_is_scored_insufficient_censored_unlabelled(store):
    _store(store)

    every = _backtest(store, date(2024, 1, 1), date(2024, 7, 1))
    last = _backtest(store, date(2024, 7, 1), date(2024, 7, 1))
    after = _backtest(store, date(2024, 7, 2), date(2024, 7, 2))

    # 01-01: eight accounts, the 28d window before the first event (insufficient).
    # 02-01, 03-01: eight scored; 04-01 (horizon to 06-30): six, kind 0 gone, scored.
    # 05-01 .. 07-01: horizons past the data end, censored: six on 05-01 and 06-01,
    # five on 07-01 (kinds 2 and 3, late). Kind 1's plan ends on 07-01: not active
    # then, though the outcome labeller, which reads line items ending on the data
    # end as still running, censors it too (7 censored, 2 of them inactive).
    assert every == {
        "active": 8 + 8 + 8 + 6 + 6 + 6 + 5,
        "censored": 6 + 6 + 5,
        "insufficient_data": 8,
        "unlabelled": 0,
        "scored": 8 + 8 + 6,
    }
    assert last == {
        "active": 5,
        "censored": 5,
        "insufficient_data": 0,
        "unlabelled": 0,
        "scored": 0,
    }
    assert after == last
    assert _adds_up(every) and _adds_up(last) and _adds_up(after)
