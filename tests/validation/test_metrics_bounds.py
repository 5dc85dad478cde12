"""p-values that no resample reached are bounds; Wilson bounds hold no float noise."""

from __future__ import annotations

import numpy as np
import pytest

from kenko.validation import metrics


def test_paired_auc_difference__no_crossing_resample_is_a_bound_not_zero() -> None:
    churned = np.array([True] * 20 + [False] * 20)
    perfect = -np.arange(40.0)  # every churner riskier than every renewer
    flat = np.zeros(40)

    paired = metrics.paired_auc_difference(churned, perfect, flat, n_boot=999)

    assert paired.p_value == pytest.approx(2 / 1000)
    assert paired.p_value_below == pytest.approx(2 / 1000)
    assert paired.to_dict()["p_value_below"] == pytest.approx(0.002)


def test_paired_auc_difference__crossing_resamples_give_no_bound() -> None:
    churned = np.array([True, False] * 20)
    same = np.arange(40.0)

    paired = metrics.paired_auc_difference(churned, same, same, n_boot=99)

    assert paired.p_value == 1.0
    assert paired.p_value_below is None


def test_wilson__low_bound_of_no_successes_is_exactly_zero() -> None:
    for n in (3, 7, 10, 1004):
        low, high = metrics.wilson(0, n)
        assert low == 0.0
        assert 0.0 < high <= 1.0
    assert metrics.wilson(5, 5)[1] == 1.0
