"""Windows that start before the event data starts have no value, not zero."""

from __future__ import annotations

import math
from datetime import date, datetime

import factories as f
from kenko.measures import compute_measures
from kenko.scores import score_accounts
from kenko.settings import Settings

SETTINGS = Settings()
AS_OF = date(2024, 2, 1)
BEFORE = "window starts before the data (first event 2024-01-10)"


def _store(store) -> None:
    """Events start on 2024-01-10 (account a); account b has none at all."""
    f.account(store, "a", seats=2.0)
    f.account(store, "b", seats=2.0)
    f.events(
        store,
        [
            ("a", "u", "login", datetime(2024, 1, d, 9))
            for d in (10, 20, 26, 30)  # the store's first event: 2024-01-10 09:00
        ],
    )


def _measures() -> list:
    return [
        f.measure("logins_28d"),  # [01-04, 02-01): starts before the data
        f.measure("logins_7d", window="7d"),  # [01-25, 02-01)
        f.measure("change_14d", aggregation="change", window="14d"),  # from 01-04
        f.measure(
            "change_7d", aggregation="change", window="7d", change_as="difference"
        ),  # previous window [01-18, 01-25)
        f.measure("weekly_3w", window="3w", per_period={"period": "1w"}),  # from 01-11
        f.measure("weekly_4w", window="4w", per_period={"period": "1w"}),  # from 01-04
        f.measure("since", aggregation="days_since_last"),
        f.measure("per_seat", formula="logins_28d / seats"),
        f.measure("mrr", subscription="mrr"),
    ]


def _values(frame) -> dict[str, dict[str, float | None]]:
    return {
        a: {k: None if math.isnan(v) else v for k, v in row.items()}
        for a, row in frame.values.to_dict("index").items()
    }


def test_data_start__windows_before_the_first_event_have_no_value(store):
    _store(store)

    frame = compute_measures(store, _measures(), AS_OF, SETTINGS)

    early = {"logins_28d": None, "change_14d": None, "weekly_4w": None, "since": None}
    # b has no events in the covered windows: there it really has 0.
    assert _values(frame) == {
        "a": {
            **early,
            "logins_7d": 2.0,
            "change_7d": 1.0,
            "weekly_3w": 1.0,  # 2, 1, 0 logins a week
            "per_seat": None,
            "mrr": 100.0,
        },
        "b": {
            **early,
            "logins_7d": 0.0,
            "change_7d": 0.0,
            "weekly_3w": 0.0,
            "per_seat": None,
            "mrr": 100.0,
        },
    }
    for account in ("a", "b"):
        notes = {m: frame.note(account, m) for m in early}
        assert notes == dict.fromkeys(early, BEFORE)
        assert frame.note(account, "per_seat") == (
            "a formula input is missing or divides by 0"
        )
        assert frame.note(account, "logins_7d") is None


def test_data_start__a_setting_overrides_the_first_event(store):
    _store(store)

    earlier = Settings(events_start=date(2024, 1, 1))
    later = Settings(events_start=date(2024, 1, 26))
    covered = compute_measures(store, _measures(), AS_OF, earlier)
    short = compute_measures(store, _measures(), AS_OF, later)

    assert covered.values.loc["a", "logins_28d"] == 4.0
    assert covered.values.loc["b", "logins_28d"] == 0.0
    assert covered.values.loc["a", "since"] == 2.0  # last login 01-30
    assert covered.values["weekly_4w"].to_dict() == {"a": 1.0, "b": 0.0}
    assert math.isnan(short.values.loc["a", "logins_7d"])
    assert short.note("a", "logins_7d") == (
        "window starts before the data (first event 2024-01-26)"
    )


def test_data_start__early_dates_are_insufficient_data_not_red(store):
    _store(store)
    card = f.scorecard(
        [
            {
                "name": "Engagement",
                "measures": [
                    f.measure("logins_28d"),
                    f.measure("logins_7d", window="7d"),
                ],
            },
            {"name": "Revenue", "measures": [f.measure("mrr", subscription="mrr")]},
        ],
        eligibility={"min_tenure": None, "min_coverage": 0.8},
    )

    early = score_accounts(store, card, AS_OF, SETTINGS)
    covered = score_accounts(store, card, date(2024, 2, 7), SETTINGS)

    # logins_28d (a quarter of the weight) has no value until 02-07.
    assert [(r.account_id, r.status, r.band, r.coverage) for r in early.results] == [
        ("a", "insufficient_data", None, 0.75),
        ("b", "insufficient_data", None, 0.75),
    ]
    assert [(r.account_id, r.status) for r in covered.results] == [
        ("a", "scored"),
        ("b", "scored"),
    ]
    assert covered.results[1].measures["logins_28d"].value == 0.0
