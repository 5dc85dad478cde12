"""label_outcomes: churn within a horizon, late renewals, end reasons, censoring."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from factories import insert
from kenko.settings import Settings, ValidationSettings
from kenko.store import Store
from kenko.validation.outcomes import data_end, label_outcomes, renewal_dates

D = date


def _items(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Line items as (account, start, end, mrr[, end_reason[, billing_months]])."""
    accounts = sorted({r[0] for r in rows})
    insert(
        store,
        "accounts",
        [{"account_id": a, "known_on": D(2023, 1, 1)} for a in accounts],
    )
    insert(
        store,
        "subscriptions",
        [
            {
                "account_id": r[0],
                "subscription_id": f"{r[0]}-{i}",
                "product": "core",
                "start_date": r[1],
                "end_date": r[2],
                "mrr": r[3],
                "end_reason": r[4] if len(r) > 4 else None,
                "billing_months": r[5] if len(r) > 5 else 1,
            }
            for i, r in enumerate(rows)
        ],
    )


def _settings(**validation: Any) -> Settings:
    validation.setdefault("data_end", D(2024, 12, 31))
    return Settings(validation=ValidationSettings(**validation))


def _by_account(labels: Any) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in labels.to_dict("records")}


def test_renewal_dates__step_from_the_original_start_and_clamp_to_month_end() -> None:
    assert renewal_dates(D(2024, 1, 31), 1, D(2024, 4, 30)) == [
        D(2024, 2, 29),
        D(2024, 3, 31),
        D(2024, 4, 30),
    ]
    assert renewal_dates(D(2024, 2, 29), 12, D(2028, 3, 1)) == [
        D(2025, 2, 28),
        D(2026, 2, 28),
        D(2027, 2, 28),
        D(2028, 2, 29),
    ]
    assert renewal_dates(D(2024, 1, 15), 0, D(2025, 1, 1)) == []


def test_label_outcomes__end_reasons_and_late_renewals(store: Store) -> None:
    _items(
        store,
        [
            # late: ends 03-01, restarts 19 days later (< 31d gap) -> not churn
            ("late", D(2024, 1, 1), D(2024, 3, 1), 100.0, "cancelled"),
            ("late", D(2024, 3, 20), None, 120.0),
            # gone: restarts 45 days after its end -> churned on 03-01
            ("gone", D(2024, 1, 1), D(2024, 3, 1), 100.0, "cancelled"),
            ("gone", D(2024, 4, 15), None, 100.0),
            ("unpaid", D(2024, 1, 1), D(2024, 3, 1), 50.0, "payment_failed"),
            ("term", D(2023, 3, 1), D(2024, 3, 1), 80.0, "fixed_term_completed", 12),
            ("open", D(2023, 12, 31), None, 70.0),
        ],
    )

    out = label_outcomes(store, [D(2024, 2, 1)], "90d", _settings())
    rows = _by_account(out.labels)

    # as_of 2024-02-01 + 90d = 2024-05-01
    assert sorted(rows) == ["gone", "late", "open", "term", "unpaid"]
    summary = {
        a: (r["churned"], r["churn_date"], r["churn_kind"], r["renewed"])
        for a, r in rows.items()
    }
    assert summary == {
        "late": (False, None, None, True),
        "gone": (True, D(2024, 3, 1), "voluntary", False),
        "unpaid": (True, D(2024, 3, 1), "involuntary", False),
        "term": (False, None, None, False),
        # monthly from 2023-12-31: 01-31, then 02-29 is the first renewal after 02-01
        "open": (False, None, None, True),
    }
    assert rows["open"]["next_renewal"] == D(2024, 2, 29)
    assert rows["term"]["next_renewal"] == D(2024, 3, 1)
    assert {a: (r["mrr_start"], r["mrr_end"]) for a, r in rows.items()} == {
        "late": (100.0, 120.0),
        "gone": (100.0, 0.0),
        "unpaid": (50.0, 0.0),
        "term": (80.0, 0.0),
        "open": (70.0, 70.0),
    }
    assert out.censored.empty


def test_label_outcomes__restart_exactly_at_the_gap_is_a_late_renewal(
    store: Store,
) -> None:
    _items(
        store,
        [
            ("at_gap", D(2024, 1, 1), D(2024, 3, 1), 100.0),
            ("at_gap", D(2024, 4, 1), None, 100.0),  # 31 days after 03-01
            ("past_gap", D(2024, 1, 1), D(2024, 3, 1), 100.0),
            ("past_gap", D(2024, 4, 2), None, 100.0),  # 32 days
        ],
    )

    default = _by_account(
        label_outcomes(store, [D(2024, 2, 1)], "90d", _settings()).labels
    )
    strict = _by_account(
        label_outcomes(store, [D(2024, 2, 1)], "90d", _settings(churn_gap="7d")).labels
    )

    assert {a: r["churned"] for a, r in default.items()} == {
        "at_gap": False,
        "past_gap": True,
    }
    assert {a: r["churned"] for a, r in strict.items()} == {
        "at_gap": True,
        "past_gap": True,
    }


def test_label_outcomes__only_accounts_active_on_the_as_of_date(store: Store) -> None:
    _items(
        store,
        [
            ("ended_before", D(2023, 6, 1), D(2024, 2, 1), 100.0),  # end exclusive
            ("starts_after", D(2024, 2, 2), None, 100.0),
            ("in_gap", D(2024, 1, 1), D(2024, 1, 20), 100.0),
            ("in_gap", D(2024, 2, 10), None, 100.0),
            ("starts_on", D(2024, 2, 1), None, 100.0),
        ],
    )

    out = label_outcomes(store, [D(2024, 2, 1)], "30d", _settings())

    assert out.labels["account_id"].tolist() == ["starts_on"]


def test_label_outcomes__horizons_past_data_end_are_censored_and_counted(
    store: Store,
) -> None:
    _items(
        store,
        [
            ("a", D(2024, 1, 1), None, 100.0),
            ("b", D(2024, 1, 1), D(2024, 3, 1), 100.0),
            ("c", D(2024, 5, 1), None, 100.0),  # the latest start: data end
        ],
    )
    settings = Settings()

    out = label_outcomes(store, [D(2024, 2, 1), D(2024, 4, 1)], "1mo", settings)

    assert data_end(store, settings) == D(2024, 5, 1)
    assert out.data_end == D(2024, 5, 1)
    # 02-01 + 1mo = 03-01 is inside the data; 04-01 + 1mo = 05-01 is too (not past)
    assert out.labels[["account_id", "as_of", "churned"]].values.tolist() == [
        ["a", D(2024, 2, 1), False],
        ["b", D(2024, 2, 1), True],
        ["a", D(2024, 4, 1), False],
    ]
    later = label_outcomes(store, [D(2024, 4, 15)], "1mo", settings)
    assert later.labels.empty
    assert later.censored.values.tolist() == [["a", D(2024, 4, 15)]]


def test_label_outcomes__line_items_ending_at_data_end_were_still_running(
    store: Store,
) -> None:
    _items(
        store,
        [
            ("a", D(2023, 12, 1), D(2024, 1, 1), 100.0),  # ends on data end
            ("b", D(2023, 12, 1), D(2023, 12, 20), 100.0),
            ("c", D(2024, 1, 1), D(2024, 2, 1), 10.0),  # latest start: 2024-01-01
        ],
    )

    out = label_outcomes(store, [D(2023, 12, 1)], "31d", Settings())

    rows = _by_account(out.labels)
    assert {a: r["churned"] for a, r in rows.items()} == {"a": False, "b": True}


def test_label_outcomes__horizon_is_a_duration(store: Store) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        label_outcomes(store, [D(2024, 1, 1)], "ninety days", Settings())
