"""A calibration refuses too few churned or renewed account-dates, warns on few."""

from __future__ import annotations

import pytest

from kenko.validation.calibrate import (
    FEW_OUTCOMES,
    MIN_OUTCOMES,
    CalibrationError,
    _check_outcomes,
    fit,
)
from kenko.warnings import FewChurnersWarning


def test_check_outcomes__no_rows_says_every_date_may_be_censored() -> None:
    with pytest.raises(CalibrationError, match="every date may be censored"):
        _check_outcomes(0, 0, 3)


@pytest.mark.parametrize(("n", "churned"), [(40, 0), (40, MIN_OUTCOMES - 1), (1, 0)])
def test_check_outcomes__too_few_of_either_outcome_is_refused(
    n: int, churned: int
) -> None:
    with pytest.raises(CalibrationError) as caught:
        _check_outcomes(n, churned, 1)
    assert f"{churned} churned and {n - churned} renewed" in str(caught.value)
    assert f"at least {MIN_OUTCOMES} of each" in str(caught.value)


def test_check_outcomes__few_outcomes_warn() -> None:
    with pytest.warns(FewChurnersWarning, match=f"only {FEW_OUTCOMES - 1} churned"):
        _check_outcomes(40, FEW_OUTCOMES - 1, 2)


def test_fit__no_scored_rows_is_a_kenko_error() -> None:
    with pytest.raises(CalibrationError, match="no scored rows"):
        fit([float("nan")], [True], "isotonic")
