"""Points, renormalisation, coverage, eligibility, segments and reasons."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

import factories as f
from kenko.scores import score_accounts
from kenko.settings import Settings

# These stores hold only a test's own events: count the data as starting long
# before them, so windows reaching before the first event still have values.
SETTINGS = Settings(events_start=date(2000, 1, 1))
AS_OF = date(2024, 3, 1)


def _logins(store, account, n, day=date(2024, 2, 10)):
    start = datetime(day.year, day.month, day.day, 9)
    f.events(
        store, [(account, "u", "login", start + timedelta(hours=i)) for i in range(n)]
    )


def _result(run, account):
    return next(r for r in run.results if r.account_id == account)


def test_points__each_scheme(store):
    for a, n in (("a1", 1), ("a2", 2), ("a3", 3), ("a4", 4)):
        f.account(store, a, attributes={"region": "eu" if a < "a3" else "us"})
        _logins(store, a, n)
    thresholds = [{"min": 4, "points": 100}, {"min": 2, "points": 60}, {"points": 20}]
    card = f.scorecard(
        [
            {
                "name": "Engagement",
                "measures": [
                    f.measure("thr", scoring={"thresholds": thresholds}),
                    f.measure("thr_no_else", scoring={"thresholds": thresholds[:2]}),
                    f.measure("lin", scoring={"linear": {"zero_at": 0, "full_at": 8}}),
                    f.measure("rev", scoring={"linear": {"zero_at": 4, "full_at": 0}}),
                    f.measure("pct", scoring={"percentile": {}}),
                    f.measure(
                        "pct_within",
                        scoring={"percentile": {"within": "region"}},
                    ),
                    f.measure(
                        "pct_low", scoring={"percentile": {"higher_is_better": False}}
                    ),
                    f.measure("flag", scoring={"boolean": {"true_points": 90}}),
                ],
            }
        ],
        eligibility={"min_tenure": None},
    )

    run = score_accounts(store, card, AS_OF, SETTINGS)

    table = {
        r.account_id: {k: m.points for k, m in r.measures.items()} for r in run.results
    }
    # Percentile rank = (below + half of equal) / n: 1 of 4 -> 12.5, ... 4 of 4 -> 87.5;
    # within a region of two accounts: 25 and 75.
    assert table == {
        "a1": {"thr": 20.0, "thr_no_else": 0.0, "lin": 12.5, "rev": 75.0,
               "pct": 12.5, "pct_within": 25.0, "pct_low": 87.5, "flag": 90.0},
        "a2": {"thr": 60.0, "thr_no_else": 60.0, "lin": 25.0, "rev": 50.0,
               "pct": 37.5, "pct_within": 75.0, "pct_low": 62.5, "flag": 90.0},
        "a3": {"thr": 60.0, "thr_no_else": 60.0, "lin": 37.5, "rev": 25.0,
               "pct": 62.5, "pct_within": 25.0, "pct_low": 37.5, "flag": 90.0},
        "a4": {"thr": 100.0, "thr_no_else": 100.0, "lin": 50.0, "rev": 0.0,
               "pct": 87.5, "pct_within": 75.0, "pct_low": 12.5, "flag": 90.0},
    }  # fmt: skip


def _card(missing, **fields):
    # Engagement (weight 3): logins (w 2, 6 logins -> 60 points) and csat (w 1, mean
    # of csat answers, 8 -> 80 points, missing when none); Adoption (weight 1): reports
    # (10 -> 100 points) and a weight-0 measure that is shown but never counts.
    return f.scorecard(
        [
            {
                "name": "Engagement",
                "weight": 3,
                "measures": [
                    f.measure("logins", weight=2),
                    f.measure(
                        "csat",
                        events=["csat"],
                        aggregation="mean",
                        missing=missing,
                        neutral_points=50,
                    ),
                ],
            },
            {
                "name": "Adoption",
                "weight": 1,
                "measures": [
                    f.measure("reports", events=["report"]),
                    f.measure("shown", events=["report"], weight=0),
                ],
            },
        ],
        **fields,
    )


def _usage(store, account="a", start=date(2023, 1, 1)):
    f.account(store, account, start=start)
    _logins(store, account, 6)
    f.events(
        store,
        [(account, "u", "report", datetime(2024, 2, 20, 10, i)) for i in range(10)],
    )


@pytest.mark.parametrize(
    ("missing", "score", "engagement", "reasons"),
    [
        # Engagement renormalised over logins only: 60; (3 * 60 + 100) / 4 = 70.
        ("exclude", 70.0, 60.0, [("logins", 30.0)]),
        # csat 0 points: (2 * 60 + 0) / 3 = 40; (3 * 40 + 100) / 4 = 55.
        ("zero", 55.0, 40.0, [("csat", 25.0), ("logins", 20.0)]),
        # csat 50 points: (120 + 50) / 3 = 56.67; (170 + 100) / 4 = 67.5.
        ("neutral", 67.5, 56.7, [("logins", 20.0), ("csat", 12.5)]),
    ],
)
def test_score__missing_policies_renormalise_and_count_coverage(
    store, missing, score, engagement, reasons
):
    _usage(store)

    run = score_accounts(store, _card(missing), AS_OF, SETTINGS)

    a = _result(run, "a")
    assert (a.score, a.groups, a.status, a.band) == (
        score,
        {"Engagement": engagement, "Adoption": 100.0},
        "scored",
        "green" if score >= 70 else "yellow",
    )
    # Nominal shares: logins 3/4 * 2/3 = 0.5, csat 0.25, reports 0.25, shown 0.
    assert a.coverage == 0.75
    assert [(r.measure, r.lost) for r in a.reasons] == reasons
    assert a.measures["shown"].points == 100.0
    assert a.measures["shown"].weight == 0.0
    assert a.measures["csat"].note == "no event value in the window"
    total = sum(m.weight for m in a.measures.values())
    assert total == pytest.approx(1.0)


def test_score__carry_last_uses_the_last_stored_value_and_counts_as_coverage(store):
    from kenko.scores import save_snapshots

    _usage(store)
    f.events(store, [("a", "u", "csat", datetime(2024, 1, 20), 8.0)])
    card = _card("carry_last")
    save_snapshots(store, score_accounts(store, card, date(2024, 2, 1), SETTINGS))

    run = score_accounts(store, card, AS_OF, SETTINGS)

    a = _result(run, "a")
    # csat 8 carried (80 points): (2 * 60 + 80) / 3 = 66.67; (200 + 100) / 4 = 75.
    assert a.measures["csat"].value == 8.0
    assert a.measures["csat"].note == "carried from 2024-02-01"
    assert (a.score, a.coverage) == (75.0, 1.0)


def test_score__carry_last_without_history_excludes(store):
    _usage(store)
    a = _result(score_accounts(store, _card("carry_last"), AS_OF, SETTINGS), "a")
    assert (a.score, a.coverage) == (70.0, 0.75)


def test_eligibility__young_or_thin_accounts_are_insufficient_data(store):
    _usage(store, "old")
    _usage(store, "young", start=date(2024, 2, 15))  # 15 days < min_tenure 30d
    f.account(store, "thin")  # no events: coverage from reports' zeros only
    card = _card("exclude", eligibility={"min_tenure": "30d", "min_coverage": 0.8})

    run = score_accounts(store, card, AS_OF, SETTINGS)

    old, young, thin = (_result(run, a) for a in ("old", "young", "thin"))
    assert (old.status, old.coverage) == ("insufficient_data", 0.75)
    assert (young.status, young.score, young.band) == ("insufficient_data", None, None)
    assert thin.status == "insufficient_data"
    run = score_accounts(store, _card("exclude"), AS_OF, SETTINGS)
    assert [r.status for r in run.results] == ["scored", "scored", "insufficient_data"]
    assert [r.account_id for r in run.results] == ["old", "thin", "young"]


def test_segments__first_matching_segment_wins_else_default(store):
    plans = {"e1": "enterprise", "e2": "strategic", "eu": "starter", "d": "starter"}
    for a, plan in plans.items():
        region = "eu" if a == "eu" else "us"
        f.account(store, a, attributes={"plan": plan, "region": region})
        _logins(store, a, 5)
    _logins(store, "e1", 5, day=date(2024, 1, 20))  # only in the 90d window
    base = [{"name": "Engagement", "measures": [f.measure("logins")]}]
    wide = [{"name": "Engagement", "measures": [f.measure("logins", window="90d")]}]
    card = f.scorecard(
        base,
        segments=[
            {"name": "enterprise", "when": {"plan": ["enterprise", "strategic"]},
             "groups": wide},
            {"name": "europe", "when": {"region": "eu", "plan": "starter"}},
        ],
        eligibility={"min_tenure": None},
    )  # fmt: skip

    run = score_accounts(store, card, AS_OF, SETTINGS)

    assert {
        r.account_id: (r.segment, r.measures["logins"].value) for r in run.results
    } == {
        "d": ("default", 5.0),
        "e1": ("enterprise", 10.0),
        "e2": ("enterprise", 5.0),
        "eu": ("europe", 5.0),
    }


def test_reasons__top_n_by_points_lost(store):
    _usage(store)
    run = score_accounts(store, _card("zero", top_reasons=1), AS_OF, SETTINGS)
    assert [
        (r.measure, r.group, r.value, r.points, r.lost) for r in run.results[0].reasons
    ] == [("csat", "Engagement", None, 0.0, 25.0)]
