"""Tuning's parts on small arrays: the optimiser, the splits, thresholds, weights and
the draft file. Expected values are worked out by hand beside each test."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
import yaml

from kenko.scorecard import parse_scorecard
from kenko.scorecard.model import Group
from kenko.validation.tune import (
    auc_of,
    choose_penalty,
    draft_weights,
    edit_scorecard_text,
    fit_nonnegative_logistic,
    red_threshold,
    scores_with,
    time_splits,
)


def _synthetic(
    beta: list[float], intercept: float, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, len(beta)))
    p = 1 / (1 + np.exp(-(intercept - x @ np.array(beta))))
    return x, (rng.uniform(size=n) < p).astype(float)


def test_fit__recovers_known_nonnegative_weights() -> None:
    # 40,000 rows drawn from the model itself: the maximum-likelihood estimate is
    # within a few standard errors (about 0.05 here) of the truth; the two measures
    # with no effect are held at or next to the bound 0.
    x, y = _synthetic([3.0, 0.0, 1.5, 0.0], 1.0, 40_000, seed=3)
    fit = fit_nonnegative_logistic(x, y, penalty=1e-6)
    assert fit.converged
    assert fit.coef == pytest.approx([3.0, 0.0, 1.5, 0.0], abs=0.15)
    assert fit.intercept == pytest.approx(1.0, abs=0.15)
    assert (fit.coef >= 0).all()


def test_fit__holds_a_harmful_measure_at_zero_and_meets_kkt() -> None:
    # The second measure truly raises churn (coefficient -2 in health terms), so the
    # non-negative fit must put it at 0 exactly, with a gradient pushing below 0.
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(20_000, 2))
    p = 1 / (1 + np.exp(-(0.5 - 2.0 * x[:, 0] + 2.0 * x[:, 1])))
    y = (rng.uniform(size=len(p)) < p).astype(float)
    penalty = 0.01
    fit = fit_nonnegative_logistic(x, y, penalty)
    assert fit.coef[1] == 0.0
    assert fit.coef[0] > 1.0
    # KKT: d loss / d beta_j = 0 where beta_j > 0, >= 0 where beta_j = 0.
    residual = fit.churn_probability(x) - y
    grad = -(x.T @ residual) / len(y) + penalty * fit.coef
    assert grad[0] == pytest.approx(0.0, abs=1e-6)
    assert grad[1] > 0
    assert residual.mean() == pytest.approx(0.0, abs=1e-6)


def test_fit__larger_penalty_shrinks_weights() -> None:
    x, y = _synthetic([2.0, 1.0], 0.5, 5_000, seed=11)
    small = fit_nonnegative_logistic(x, y, 0.001)
    large = fit_nonnegative_logistic(x, y, 1.0)
    assert np.linalg.norm(large.coef) < np.linalg.norm(small.coef)


def test_auc_of__low_health_churns_with_ties_half() -> None:
    # Churners have health 1 and 3, retained 2 and 3: pairs (1<2 yes, 1<3 yes,
    # 3<2 no, 3=3 half) = 2.5 / 4.
    assert auc_of(np.array([1, 3, 2, 3]), np.array([1, 1, 0, 0])) == 0.625
    assert auc_of(np.array([1, 2]), np.array([0, 0])) is None


D1, D2, D3, D4 = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)


def test_time_splits__exact_membership_time_order_and_accounts() -> None:
    # Four dates, two folds: blocks [D1, D2] [D3] [D4]. Accounts A..D dealt into two
    # groups: A, C -> 0 and B, D -> 1. A fold tests one later block on one group
    # and trains on the earlier blocks of the other group.
    rows = [
        ("A", D1),  # 0
        ("B", D1),  # 1
        ("A", D2),  # 2
        ("C", D2),  # 3
        ("B", D3),  # 4
        ("C", D3),  # 5
        ("D", D3),  # 6
        ("A", D4),  # 7
        ("D", D4),  # 8
    ]
    accounts = [a for a, _ in rows]
    days = [d for _, d in rows]
    splits = time_splits(days, accounts, folds=2, groups=2)
    assert [(s.accounts, s.train.tolist(), s.test.tolist()) for s in splits] == [
        (0, [1], [5]),  # D3, group A/C: C's D3 row; trains on B's D1 row
        (1, [0, 2, 3], [4, 6]),  # D3, group B/D; trains on A and C before D3
        (0, [1, 4, 6], [7]),  # D4, A; trains on B and D up to D3
        (1, [0, 2, 3, 5], [8]),  # D4, D; trains on A and C up to D3
    ]
    for s in splits:
        assert max(days[i] for i in s.train) < min(days[i] for i in s.test)
        assert not {accounts[i] for i in s.train} & {accounts[i] for i in s.test}
    assert [s.test_dates for s in splits] == [[D3], [D3], [D4], [D4]]
    assert splits[2].train_dates == [D1, D3]


def test_time_splits__blocks_of_several_dates() -> None:
    # Five dates in three blocks (array_split: [D1, D2] [D3, D4] [D5]); accounts
    # a, c, e -> group 0 and b, d -> 1. The last block has no group-1 row, so that
    # fold is left out.
    days = [D1, D2, D3, D4, date(2024, 5, 1)]
    splits = time_splits(days, ["a", "b", "c", "d", "e"], folds=2, groups=2)
    assert [(s.train.tolist(), s.test.tolist()) for s in splits] == [
        ([1], [2]),
        ([0], [3]),
        ([1, 3], [4]),
    ]


def test_choose_penalty__picks_lowest_test_log_loss() -> None:
    x, y = _synthetic([2.5, 0.0, 1.0], 0.8, 6_000, seed=2)
    days = [date(2024, 1 + i % 6, 1) for i in range(len(y))]
    splits = time_splits(days, [str(i) for i in range(len(y))], folds=3)
    best, scores = choose_penalty(x, y, splits, [0.001, 10.0])
    assert best == 0.001  # 10 shrinks the true weights to almost nothing
    assert scores[0].log_loss < scores[1].log_loss
    assert scores[0].auc is not None and scores[0].auc > 0.6


# Scores 10 20 20 35 50 60 80 90; churned: 10, 20 (first), 35, 80.
SCORES = np.array([10, 20, 20, 35, 50, 60, 80, 90], dtype=float)
CHURNED = np.array([1, 1, 0, 1, 0, 0, 1, 0], dtype=bool)


def test_red_threshold__youden_exact() -> None:
    # Below t: TPR - FPR = 10: 0, 20: .25, 35: .5-.25, 50: .75-.25 = .5 (best),
    # 60: .75-.5, 80: .75-.75, 90: 1-.75, 90.1: 0.
    red = red_threshold(SCORES, CHURNED)
    assert (red.below, red.capture, red.false_alarm, red.rule) == (
        50.0,
        0.75,
        0.25,
        "youden",
    )
    assert red.youden_j == 0.5


@pytest.mark.parametrize(
    ("target", "below", "capture", "false_alarm"),
    [
        (0.5, 20.1, 0.5, 0.25),  # 2nd lowest churner score 20 -> below 20.1
        (0.6, 35.1, 0.75, 0.25),  # ceil(2.4) = 3rd: 35
        (1.0, 80.1, 1.0, 0.75),  # every churner: 80 is the highest
    ],
)
def test_red_threshold__captures_target_share(
    target: float, below: float, capture: float, false_alarm: float
) -> None:
    red = red_threshold(SCORES, CHURNED, target)
    assert (red.below, red.capture, red.false_alarm) == (below, capture, false_alarm)


def _groups() -> list[Group]:
    linear = {"linear": {"zero_at": 0, "full_at": 10}}
    return [
        Group.model_validate(
            {
                "name": "G1",
                "weight": 1,
                "measures": [
                    {"name": "a", "events": ["x"], "scoring": linear},
                    {"name": "b", "events": ["x"], "scoring": linear},
                ],
            }
        ),
        Group.model_validate(
            {
                "name": "G2",
                "measures": [{"name": "c", "events": ["x"], "scoring": linear}],
            }
        ),
        Group.model_validate(
            {
                "name": "G3",
                "measures": [
                    {"name": "d", "events": ["x"], "weight": 2, "scoring": linear}
                ],
            }
        ),
    ]


def test_draft_weights__shares_become_group_times_measure_weights() -> None:
    groups, measures = draft_weights(_groups(), {"a": 0.3, "b": 0.1, "c": 0.6, "d": 0})
    assert groups == {"G1": 40.0, "G2": 60.0, "G3": 0.0}
    # G3 has no share: weight 0, and d keeps its weight 2 so the file stays valid.
    assert measures == {"a": 75.0, "b": 25.0, "c": 100.0, "d": 2}


def test_scores_with__renormalises_over_missing_points() -> None:
    points = pd.DataFrame(
        {
            "points:a": [100.0, np.nan, np.nan],
            "points:b": [0.0, 40.0, np.nan],
            "points:c": [50.0, 50.0, np.nan],
            "points:d": [0.0, 0.0, 10.0],
        }
    )
    g, m = {"G1": 40.0, "G2": 60.0, "G3": 0.0}, {"a": 75.0, "b": 25.0, "c": 100.0}
    # Row 0: G1 = (75*100 + 25*0)/100 = 75, G2 = 50 -> (40*75 + 60*50)/100 = 60.
    # Row 1: G1 = 40 (a missing), G2 = 50 -> (40*40 + 60*50)/100 = 46.
    # Row 2: no group with points (G3 has weight 0) -> no score.
    out = scores_with(points, _groups(), g, m)
    assert out[:2].tolist() == [60.0, 46.0]
    assert np.isnan(out[2])


SCORECARD = """\
# Our scorecard: comments must survive tuning.
name: demo
bands:
  - {name: red, below: 40, color: "#d62728"}
  - {name: yellow, below: 70}
  - {name: green}
groups:
  - name: G1
    weight: 20  # set by hand in 2023
    measures:
      - name: a
        events: [x]
        weight: 1
        scoring:
          linear: {zero_at: 0, full_at: 10}
      - name: b
        # no weight: the default 1
        events: [x]
        scoring:
          linear: {zero_at: 0, full_at: 10}
  - {name: G2, measures: [{name: c, events: [x], scoring: {percentile: {}}}]}
"""


def test_edit_scorecard_text__changes_values_in_place_and_keeps_comments() -> None:
    out = edit_scorecard_text(
        SCORECARD,
        {"G1": 40.0, "G2": 60.0},
        {"a": 75.0, "b": 25.0, "c": 100.0},
        35.5,
        header=["Draft from kenko tune."],
    )
    assert out.startswith("# Draft from kenko tune.\n#\n# Our scorecard")
    assert "    weight: 40  # set by hand in 2023\n" in out
    assert "      - name: b\n        weight: 25\n        # no weight" in out
    assert "{name: G2, weight: 60, measures: [{name: c, weight: 100, events" in out
    assert '- {name: red, below: 35.5, color: "#d62728"}' in out
    sc = parse_scorecard(out).scorecard
    assert [g.weight for g in sc.groups] == [40, 60]
    assert [m.weight for g in sc.groups for m in g.measures] == [75, 25, 100]
    assert sc.bands[0].below == 35.5
    # Nothing else moved: the same document apart from these values.
    before, after = yaml.safe_load(SCORECARD), yaml.safe_load(out)
    after["groups"][0]["weight"] = 20
    for g in after["groups"]:
        for m in g["measures"]:
            m.pop("weight", None)
    before["groups"][0]["measures"][0].pop("weight")
    after["groups"][1].pop("weight")
    after["bands"][0]["below"] = 40
    assert after == before


def test_edit_scorecard_text__adds_bands_when_the_file_has_none() -> None:
    text = (
        "groups:\n  - name: G\n    measures:\n      - {name: a, events: [x], "
        "scoring: {boolean: {}}}\n"
    )
    out = edit_scorecard_text(text, {"G": 100.0}, {"a": 100.0}, 42.0)
    sc = parse_scorecard(out).scorecard
    assert [(b.name, b.below) for b in sc.bands] == [
        ("red", 42.0),
        ("yellow", 70.0),
        ("green", None),
    ]
