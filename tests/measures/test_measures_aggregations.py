"""Each aggregation, per-period summary, normalisation and non-event source."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import factories as f
from kenko.errors import ScorecardError
from kenko.measures import check_scorecard_semantics, compute_measures
from kenko.settings import EntitySource, Settings

# These stores hold only the events each case needs, the first of them inside the
# windows; the event data is declared to start long before, so every window is
# covered (test_measures_data_start.py tests the data start itself).
SETTINGS = Settings(events_start=date(2000, 1, 1))
AS_OF = date(2024, 3, 1)  # 28d window: [2024-02-02, 2024-03-01); before: [01-04, 02-02)


def _usage(store):
    f.account(store, "a")
    f.account(store, "quiet")
    f.events(
        store,
        [
            ("a", "u1", "use", datetime(2024, 2, 10, 10), 2.0),
            ("a", "u2", "use", datetime(2024, 2, 12, 10), 5.0),
            ("a", "u1", "use", datetime(2024, 2, 12, 11), None),
            ("a", None, "use", datetime(2024, 2, 20, 9), 11.0),
            ("a", "u3", "other", datetime(2024, 2, 25, 9)),
            ("a", "u1", "use", datetime(2024, 1, 20, 9), 100.0),  # previous window
            ("a", "u1", "use", datetime(2023, 12, 20, 9), 7.0),  # before both
        ],
    )


def test_aggregations__each_over_the_window(store):
    _usage(store)
    use = {"events": ["use"]}
    measures = [
        f.measure("count", **use),
        f.measure("all_types", events=["*"]),
        f.measure("sum", aggregation="sum", **use),
        f.measure("mean", aggregation="mean", **use),
        f.measure("median", aggregation="median", **use),
        f.measure("min", aggregation="min", **use),
        f.measure("max", aggregation="max", **use),
        f.measure("users", aggregation="distinct_users", **use),
        f.measure("days", aggregation="active_days", **use),
        f.measure("since", aggregation="days_since_last", **use),
        f.measure("last", aggregation="last_value", **use),
        f.measure("ratio", aggregation="change", **use),
        f.measure("diff", aggregation="change", change_as="difference", **use),
        f.measure("mean_change", aggregation="change", change_of="mean", **use),
    ]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values.loc["a"].to_dict() == {
        "count": 4.0,
        "all_types": 5.0,
        "sum": 18.0,  # 2 + 5 + 11, the null value ignored
        "mean": 6.0,
        "median": 5.0,
        "min": 2.0,
        "max": 11.0,
        "users": 2.0,  # u1 u2; the event without a user is not a user
        "days": 3.0,  # 02-10, 02-12, 02-20
        "since": 10.0,  # 02-20 to 03-01
        "last": 11.0,
        "ratio": 3.0,  # (4 - 1) / 1
        "diff": 3.0,
        "mean_change": pytest.approx(-0.94),  # (6 - 100) / 100
    }
    quiet = frame.values.loc["quiet"]
    assert quiet[["count", "users", "days", "diff"]].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert quiet["since"] == 28.0  # nothing in the window: capped at its length
    assert quiet[["sum", "mean", "median", "min", "max", "last", "ratio"]].isna().all()
    assert frame.note("quiet", "sum") == "no event value in the window"
    assert frame.note("quiet", "ratio") == "nothing to compare in the previous window"


def test_aggregations__per_period_counts_periods_without_events_as_zero(store):
    _usage(store)
    # Weeks back from 03-01: [02-23, 03-01) 0, [02-16, 02-23) 1, [02-09, 02-16) 3,
    # [02-02, 02-09) 0. Months back: Feb 4, Jan 1, Dec 1.
    weekly = {"events": ["use"], "window": "4w"}
    measures = [
        f.measure("wk_median", per_period={"period": "1w"}, **weekly),
        f.measure(
            "wk_mean", per_period={"period": "1w", "statistic": "mean"}, **weekly
        ),
        f.measure("wk_max", per_period={"period": "7d", "statistic": "max"}, **weekly),
        f.measure("wk_min", per_period={"period": "1w", "statistic": "min"}, **weekly),
        f.measure(
            "wk_users",
            aggregation="distinct_users",
            per_period={"period": "1w", "statistic": "max"},
            **weekly,
        ),
        f.measure(
            "wk_days",
            aggregation="active_days",
            per_period={"period": "1w", "statistic": "mean"},
            **weekly,
        ),
        f.measure(
            "wk_sum",
            aggregation="sum",
            per_period={"period": "1w", "statistic": "median"},
            **weekly,
        ),
        f.measure(
            "mo_mean",
            events=["use"],
            window="3mo",
            per_period={"period": "1mo", "statistic": "mean"},
        ),
    ]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values.loc["a"].to_dict() == {
        "wk_median": 0.5,  # median of 0, 1, 3, 0 (2 if empty weeks were dropped)
        "wk_mean": 1.0,
        "wk_max": 3.0,
        "wk_min": 0.0,
        "wk_users": 2.0,  # u1 u2 in [02-09, 02-16)
        "wk_days": 0.75,  # 0, 1, 2, 0 local days
        "wk_sum": 3.5,  # weekly sums 0, 11, 7, 0 -> median (0 + 7) / 2
        "mo_mean": 2.0,  # (4 + 1 + 1) / 3
    }
    assert frame.values.loc["quiet", "wk_median"] == 0.0


def test_aggregations__per_period_must_divide_the_window(store):
    f.account(store, "a")
    bad = f.measure("weekly", window="30d", per_period={"period": "1w"})

    with pytest.raises(ScorecardError, match="not a whole number of periods"):
        compute_measures(store, [bad], AS_OF, SETTINGS)
    scorecard = f.scorecard([{"name": "Engagement", "measures": [bad]}])
    assert check_scorecard_semantics(scorecard) == [
        (
            "groups[0].measures[0].per_period.period",
            "window 30d is not a whole number of periods of 1w; pick a period that "
            "divides the window (12w / 1w, 3mo / 1mo)",
        )
    ]


def test_normalise__per_seat_uses_account_seats_else_seat_line_items(store):
    f.account(store, "set", seats=4)
    f.account(store, "items", quantity=3, units="seats")
    f.subscription(store, "items", start=date(2023, 6, 1), quantity=100, units="gb")
    f.subscription(  # ended: its seats do not count
        store,
        "items",
        start=date(2023, 1, 1),
        end=date(2024, 1, 1),
        quantity=9,
        units="users",
    )
    f.account(store, "none")
    f.events(
        store,
        [(a, "u", "login", datetime(2024, 2, 20)) for a in ("set", "items", "none")],
    )
    measures = [f.measure("per_seat", normalise="per_seat")]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values["per_seat"].to_dict() == {
        "items": pytest.approx(1 / 3),
        "none": pytest.approx(float("nan"), nan_ok=True),
        "set": 0.25,
    }
    assert frame.note("none", "per_seat") == "no seat count"
    assert frame.accounts.loc["items", "seats"] == 3.0


def test_normalise__per_active_user_divides_by_users_with_any_event(store):
    f.account(store, "a")
    f.account(store, "nobody")
    f.events(
        store,
        [
            ("a", "u1", "report", datetime(2024, 2, 20)),
            ("a", "u1", "report", datetime(2024, 2, 21)),
            ("a", "u1", "report", datetime(2024, 2, 22)),
            ("a", "u2", "login", datetime(2024, 2, 22)),
            ("a", "u3", "login", datetime(2024, 1, 22)),  # outside the window
        ],
    )
    measures = [f.measure("reports", events=["report"], normalise="per_active_user")]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values.loc["a", "reports"] == 1.5  # 3 reports / 2 users
    assert frame.values["reports"].isna()["nobody"]
    assert frame.note("nobody", "reports") == "no active users in the window"


def test_normalise__tenure_scaled_lifts_accounts_younger_than_the_window(store):
    f.account(store, "young", start=date(2024, 2, 15))  # 15 days old on 03-01
    f.account(store, "old")
    rows = [(a, "u", "login", datetime(2024, 2, 20)) for a in ("young", "old")]
    f.events(store, rows * 2)
    measures = [f.measure("logins", normalise="tenure_scaled")]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values.loc["young", "logins"] == pytest.approx(2 * 28 / 15)
    assert frame.values.loc["old", "logins"] == 2.0


def test_sources__subscription_fields_on_the_as_of_date(store):
    f.account(store, "a", start=date(2023, 3, 1), mrr=100, seats=5)
    f.subscription(
        store,
        "a",
        start=date(2024, 1, 1),
        end=date(2024, 6, 1),
        mrr=50,
        product="addon",
    )
    f.subscription(
        store, "a", start=date(2023, 1, 1), end=date(2024, 2, 1), mrr=70, product="old"
    )
    f.subscription(store, "a", start=date(2024, 3, 5), mrr=30, product="later")
    f.account(store, "open", start=date(2024, 2, 1))
    f.account(store, "gone", start=date(2023, 1, 1), end=date(2024, 3, 1))
    fields = ["mrr", "seats", "products", "tenure_days", "days_to_renewal"]
    measures = [f.measure(k, subscription=k) for k in fields]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.account_ids == ["a", "open"]  # "gone" ended on 03-01 (exclusive)
    assert frame.values.loc["a"].to_dict() == {
        "mrr": 150.0,
        "seats": 5.0,
        "products": 2.0,
        "tenure_days": 425.0,  # 2023-01-01 (the ended item) to 2024-03-01: 365 + 60
        "days_to_renewal": 92.0,  # to 2024-06-01
    }
    assert (
        frame.values.loc["open", "days_to_renewal"]
        != frame.values.loc["open", "days_to_renewal"]
    )  # every item open: no renewal date


def test_sources__numeric_attribute_and_text_attribute_refused(store):
    f.account(store, "a", attributes={"nps_survey": "8.5", "plan": "gold"})
    f.account(store, "b", attributes={"plan": "silver"})

    frame = compute_measures(
        store, [f.measure("survey", attribute="nps_survey")], AS_OF, SETTINGS
    )

    assert frame.values.loc["a", "survey"] == 8.5
    assert frame.note("b", "survey") == "no value"
    assert frame.attributes.loc["b", "plan"] == "silver"
    with pytest.raises(ScorecardError, match=r"'plan' is not a number \(account a"):
        compute_measures(store, [f.measure("plan", attribute="plan")], AS_OF, SETTINGS)


def test_formula__arithmetic_over_measures_and_builtins(store):
    f.account(store, "a", seats=4, mrr=200)
    f.account(store, "b", seats=0)
    f.events(store, [("a", f"u{i}", "login", datetime(2024, 2, 20)) for i in range(3)])
    measures = [
        f.measure("users", aggregation="distinct_users"),
        f.measure("ratio", formula="users / seats"),
        f.measure("mixed", formula="-(min(users, 2) - max(users, 5)) * 2 + mrr / 100"),
        f.measure("chained", formula="ratio * 4"),
    ]

    frame = compute_measures(store, measures, AS_OF, SETTINGS)

    assert frame.values.loc["a"].to_dict() == {
        "users": 3.0,
        "ratio": 0.75,
        "mixed": 8.0,  # -(2 - 5) * 2 + 2
        "chained": 3.0,
    }
    assert frame.values.loc["b", ["ratio", "chained"]].isna().all()  # 0 / 0 seats
    assert frame.note("b", "ratio") == "a formula input is missing or divides by 0"


def test_formula__unknown_name_and_cycles_are_scorecard_errors(store):
    f.account(store, "a")
    with pytest.raises(ScorecardError, match="reads 'logins'") as caught:
        compute_measures(
            store, [f.measure("r", formula="logins / seats")], AS_OF, SETTINGS
        )
    assert caught.value.where == "measure r.formula"

    scorecard = f.scorecard(
        [
            {
                "name": "ROI",
                "measures": [
                    f.measure("x", formula="y + 1"),
                    f.measure("y", formula="x * 2"),
                    f.measure("z", formula="__import__('os')"),
                ],
            }
        ]
    )
    problems = check_scorecard_semantics(scorecard)
    assert [p for p, _ in problems] == [
        "groups[0].measures[2].formula",
        "groups[0].measures[0].formula",
        "groups[0].measures[1].formula",
    ]
    assert "is not allowed" in problems[0][1]
    assert "depends on itself" in problems[1][1]


def test_normalise__account_seats_count_only_from_the_day_they_were_known(store):
    # The accounts export says 10 seats but was taken on 2024-06-30; on AS_OF the
    # only point-in-time seat count is the 4 seats of the active line item.
    f.account(
        store, "a", seats=10, known_on=date(2024, 6, 30), quantity=4, units="seats"
    )
    f.events(store, [("a", "u", "login", datetime(2024, 2, 20))])
    measures = [f.measure("per_seat", normalise="per_seat")]

    before = compute_measures(store, measures, AS_OF, SETTINGS)
    after = compute_measures(store, measures, date(2024, 7, 1), SETTINGS)
    static = Settings(
        events_start=date(2000, 1, 1),
        accounts=EntitySource(static_attributes=["seats"]),
    )
    declared = compute_measures(store, measures, AS_OF, static)

    assert before.values.loc["a", "per_seat"] == 0.25
    assert after.accounts.loc["a", "seats"] == 10.0
    assert declared.values.loc["a", "per_seat"] == 0.1
