"""Cases 08, 09 and 10 from ../shared/cases, through compute_measures."""

from __future__ import annotations

import warnings
from datetime import date, datetime

import pytest

import factories as f
from kenko.measures import compute_measures
from kenko.settings import Settings
from kenko.warnings import NotPointInTimeWarning

# These stores hold only the events each case needs, the first of them inside the
# windows; the event data is declared to start long before, so every window is
# covered (test_measures_data_start.py tests the data start itself).
SETTINGS = Settings(events_start=date(2000, 1, 1))


def test_case08__window_counts_use_only_events_before_as_of(store):
    for a in ("A", "B"):
        f.account(store, a, known_on=date(2024, 6, 30))
    f.events(
        store,
        [
            ("A", None, "login", datetime(2024, 2, 20, 10)),
            ("A", None, "cancel_request", datetime(2024, 3, 15, 9)),
            ("A", None, "login", datetime(2024, 3, 20, 11)),
            ("B", None, "login", datetime(2024, 2, 25, 8)),
            ("B", None, "login", datetime(2024, 2, 28, 8)),
        ],
    )
    measures = [
        f.measure("logins_28d", events=["login"]),
        f.measure("cancel_requests_28d", events=["cancel_request"]),
    ]

    frame = compute_measures(store, measures, date(2024, 3, 1), SETTINGS)

    assert frame.values.to_dict("index") == {
        "A": {"logins_28d": 1.0, "cancel_requests_28d": 0.0},
        "B": {"logins_28d": 2.0, "cancel_requests_28d": 0.0},
    }


def test_case08__lifetime_attribute_exported_later_is_refused(store):
    for a in ("A", "B"):
        f.account(
            store,
            a,
            known_on=date(2024, 6, 30),
            attributes={"lifetime_logins": "2"},
            static=False,
        )
    measures = [f.measure("lifetime_logins", attribute="lifetime_logins")]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", NotPointInTimeWarning)
        frame = compute_measures(store, measures, date(2024, 3, 1), SETTINGS)

    assert [type(w.message) for w in caught] == [NotPointInTimeWarning]
    assert frame.values["lifetime_logins"].isna().all()
    assert frame.note("A", "lifetime_logins") == (
        "not point-in-time (known from 2024-06-30)"
    )
    assert frame.warnings and "lifetime_logins" in frame.warnings[0]


def test_case09__thirty_days_ending_d_inclusive_is_as_of_d_plus_one(store):
    # "30 days ending 2019-07-27 inclusive" = 2019-06-28 .. 2019-07-27, which is the
    # window [00:00 of 2019-06-28, 00:00 of 2019-07-28): as of 2019-07-28 with 30d.
    f.account(store, "a", start=date(2019, 1, 1))
    activity = [
        ("u1", date(2019, 6, 27)),
        ("u2", date(2019, 6, 28)),
        ("u3", date(2019, 7, 27)),
        ("u4", date(2019, 7, 28)),
        ("u5", date(2019, 6, 28)),
        ("u5", date(2019, 7, 27)),
    ]
    f.events(
        store,
        [
            ("a", u, "activity", datetime(d.year, d.month, d.day, 12))
            for u, d in activity
        ],
    )
    measures = [
        f.measure(
            "users_30d", events=["activity"], aggregation="distinct_users", window="30d"
        ),
        f.measure(
            "users_1d", events=["activity"], aggregation="distinct_users", window="1d"
        ),
    ]

    frame = compute_measures(store, measures, date(2019, 7, 28), SETTINGS)

    assert frame.values.loc["a", "users_30d"] == 3  # u2 u3 u5
    assert frame.values.loc["a", "users_1d"] == 2  # u3 u5 on 2019-07-27


def test_case09__window_includes_t_minus_w_and_excludes_t(store):
    f.account(store, "a")
    # The values tell which events were used: 1 and 2 in, 4 (exactly t) out.
    f.events(
        store,
        [
            ("a", "u1", "login", datetime(2024, 2, 2, 0, 0), 1.0),
            ("a", "u2", "login", datetime(2024, 2, 15, 12, 0), 2.0),
            ("a", "u3", "login", datetime(2024, 3, 1, 0, 0), 4.0),
        ],
    )
    measures = [
        f.measure("n", aggregation="count"),
        f.measure("total", aggregation="sum"),
        f.measure("first", aggregation="min"),
        f.measure("users", aggregation="distinct_users"),
    ]

    frame = compute_measures(store, measures, date(2024, 3, 1), SETTINGS)

    assert frame.values.loc["a"].to_dict() == {
        "n": 2.0,
        "total": 3.0,
        "first": 1.0,
        "users": 2.0,
    }


def test_case10__nps_from_valid_answers_is_plus_14_3(store):
    # The loader rejects r8 (6.5), r9 (empty) and r10 (11); r11 is a csat answer.
    f.account(store, "a")
    answers = [10, 9, 9, 8, 7, 6, 0]
    rows = [
        ("a", f"r{i}", "nps", datetime(2024, 2, 10 + i), float(v))
        for i, v in enumerate(answers)
    ]
    rows.append(("a", "r11", "csat", datetime(2024, 2, 20), 9.0))
    f.events(store, rows)
    measures = [f.measure("nps", events=["nps"], aggregation="nps", window="90d")]

    frame = compute_measures(store, measures, date(2024, 3, 1), SETTINGS)

    # n = 7, promoters 3, detractors 2: 100 * (3 - 2) / 7 = 14.2857...
    assert frame.values.loc["a", "nps"] == pytest.approx(100 / 7)
    assert round(frame.values.loc["a", "nps"], 1) == 14.3
