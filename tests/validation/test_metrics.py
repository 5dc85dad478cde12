"""Metrics checked against scikit-learn and against plain, independent counting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from kenko.validation import metrics
from kenko.validation.calibrate import fit, pava


def _data(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.integers(0, 20, n).astype(float)  # many ties
    churned = rng.random(n) < 0.1 + risk / 40
    return churned, risk


def test_metrics__auc_matches_sklearn_with_ties():
    churned, risk = _data()

    assert metrics.roc_auc(churned, risk) == pytest.approx(
        roc_auc_score(churned, risk), abs=1e-12
    )


def test_metrics__auc_counts_ties_half_by_pairs():
    churned = np.array([True, False, True, False, False])
    risk = np.array([3.0, 3.0, 1.0, 0.0, 2.0])
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for (a, ya), (b, yb) in itertools.product(
            zip(risk, churned, strict=True), repeat=2
        )
        if ya and not yb
    ]

    assert metrics.roc_auc(churned, risk) == sum(pairs) / len(pairs) == 3.5 / 6


def test_metrics__bootstrap_interval_is_seeded_and_holds_the_auc():
    churned, risk = _data()

    first = metrics.bootstrap_auc(churned, risk, n_boot=300, seed=5)

    assert first == metrics.bootstrap_auc(churned, risk, n_boot=300, seed=5)
    assert first[0] < metrics.roc_auc(churned, risk) < first[1]


def test_metrics__auc_of_each_resample_equals_sklearn_on_the_drawn_rows():
    churned, risk = _data(60)
    draws = np.random.default_rng(1).integers(0, 60, size=(5, 60))

    got = metrics._resampled_auc(churned, risk, draws)

    want = [roc_auc_score(churned[d], risk[d]) for d in draws]
    np.testing.assert_allclose(got, want, atol=1e-12)


def _lift_by_random_tie_breaks(churned, risk, share, draws=4000):
    """Independent: break ties at random many times, average the top share."""
    rng = np.random.default_rng(0)
    n = len(churned)
    take = share * n
    whole, frac = int(take), take - int(take)
    rates = []
    for _ in range(draws):
        order = np.lexsort((rng.random(n), -risk))
        top = churned[order]
        hits = top[:whole].sum() + frac * top[whole] if whole < n else top.sum()
        rates.append(hits / take)
    return np.mean(rates) / churned.mean()


def test_metrics__top_decile_lift_splits_a_tied_cut_in_proportion():
    churned = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)
    risk = np.array([9, 9, 9, 9, 5, 5, 4, 3, 3, 2, 1, 0], dtype=float)
    # Top 10% of 12 rows = 1.2 rows, all from the four tied at 9 (2 churners of 4).
    assert metrics.top_lift(churned, risk, 0.1) == pytest.approx((0.5 / 1) / (4 / 12))
    assert metrics.top_lift(churned, risk, 0.5) == pytest.approx(
        _lift_by_random_tie_breaks(churned, risk, 0.5), rel=0.02
    )
    big_c, big_r = _data(500)
    assert metrics.top_lift(big_c, big_r, 0.1) == pytest.approx(
        _lift_by_random_tie_breaks(big_c, big_r, 0.1, 800), rel=0.02
    )


def test_metrics__brier_matches_sklearn():
    churned, risk = _data()
    p = 1 - risk / 25

    assert metrics.brier(~churned, p) == pytest.approx(
        brier_score_loss(~churned, p), abs=1e-12
    )


def test_metrics__calibration_table_matches_sklearn_calibration_curve():
    churned, risk = _data()
    p = np.r_[1 - risk / 20, [0.1, 0.2, 1.0]]  # values exactly on bin edges too
    y = np.r_[~churned, [True, False, True]]

    table = metrics.calibration_table(y, p, bins=10)

    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(table["observed"], observed, atol=1e-12)
    np.testing.assert_allclose(table["predicted"], predicted, atol=1e-12)
    assert table["n"].sum() == len(y)


def test_metrics__isotonic_fit_matches_sklearn():
    churned, risk = _data()
    score = 100 - 4 * risk + np.random.default_rng(2).integers(0, 3, len(risk))

    cal = fit(score, ~churned, "isotonic")

    iso = IsotonicRegression(out_of_bounds="clip").fit(score, ~churned)
    grid = np.linspace(-10, 110, 241)
    np.testing.assert_allclose(cal.predict(grid), iso.predict(grid), atol=1e-12)


def test_metrics__pava_pools_adjacent_violators():
    assert pava([1, 3, 2, 4]).tolist() == [1, 2.5, 2.5, 4]
    assert pava([3, 1], [1, 3]).tolist() == [1.5, 1.5]


def test_metrics__logistic_fit_reaches_the_maximum_likelihood():
    churned, risk = _data()
    score = 100 - 4 * risk
    y = (~churned).astype(float)

    a, b = fit(score, y, "logistic").params["coef"]

    x = score / 100
    p = 1 / (1 + np.exp(-(a + b * x)))
    # At the maximum the score equations hold: sum(y - p) = sum(x (y - p)) = 0.
    assert abs((y - p).sum()) < 1e-8
    assert abs((x * (y - p)).sum()) < 1e-8


def test_metrics__wilson_interval_exact_values():
    lo, hi = metrics.wilson(163, 1004)
    z = 1.959963984540054
    p, n = 163 / 1004, 1004
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (lo, hi) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert metrics.wilson(0, 10)[0] == 0.0
    assert all(math.isnan(x) for x in metrics.wilson(0, 0))


def test_metrics__precision_recall_and_expected_vs_actual_count_exactly():
    churned = np.array([True, True, False, False, True])
    flagged = np.array([True, False, True, False, True])

    assert metrics.precision_recall(churned, flagged) == (2 / 3, 2 / 3)
    table = metrics.expected_vs_actual(
        ["red", "red", "green", "green", "red"], [0.5, 0.25, 0.75, 1.0, 0.5], ~churned
    )
    assert table.to_dict("records") == [
        {"band": "red", "n": 3, "expected": 1.25, "actual": 0},
        {"band": "green", "n": 2, "expected": 1.75, "actual": 2},
    ]


def test_metrics__paired_difference_of_a_score_with_itself_is_zero():
    churned, risk = _data()
    noisy = risk + np.random.default_rng(4).normal(0, 8, len(risk))

    same = metrics.paired_auc_difference(churned, risk, risk, n_boot=200)
    diff = metrics.paired_auc_difference(churned, risk, noisy, n_boot=200)

    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)
    assert diff.difference == pytest.approx(
        roc_auc_score(churned, risk) - roc_auc_score(churned, noisy), abs=1e-12
    )
    assert diff.low < diff.difference < diff.high
