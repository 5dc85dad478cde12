"""Score -> probability of renewal, fitted on earlier as-of dates and stored.

Renewal here means the account did not churn within the horizon. Isotonic fits are
the pool-adjacent-violators step function through the fitted points, linearly
interpolated between them and flat beyond (as scikit-learn's ``IsotonicRegression``
with ``out_of_bounds="clip"``); logistic fits p = 1 / (1 + exp(-(a + b x))) with
x = score / 100, by Newton's method.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.scorecard.model import Scorecard
from kenko.settings import Settings
from kenko.store import Store, schema
from kenko.warnings import FewChurnersWarning

log = logging.getLogger(__name__)

MIN_OUTCOMES = 2  # a fit needs at least this many churned and renewed account-dates
# Below this many of either the fit gets a warning.
# TODO(#3): raise to backtest's MIN_CHURNERS (10) once the small backtest test
# expects the warning.
FEW_OUTCOMES = 3


class CalibrationError(KenkoError, ValueError):
    """Nothing, or too little, to fit a score -> renewal probability map on."""


Method = Literal["isotonic", "logistic"]
C = schema.calibrations


def pava(
    y: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> npt.NDArray[np.float64]:
    """The non-decreasing sequence nearest ``y`` in weighted least squares."""
    values = np.asarray(y, dtype=float)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=float)
    means: list[float] = []
    sizes: list[float] = []
    counts: list[int] = []
    for v, wi in zip(values.tolist(), w.tolist(), strict=True):
        means.append(v)
        sizes.append(wi)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / total
            sizes[-2] = total
            counts[-2] += counts[-1]
            del means[-1], sizes[-1], counts[-1]
    return np.repeat(means, counts)


@dataclass
class Calibration:
    """A fitted score -> renewal probability map of one scorecard version."""

    method: Method
    params: dict[str, list[float]]
    version: str = ""
    horizon: str = ""
    fit_from: date | None = None
    fit_to: date | None = None
    rows: int = 0
    churned: int = 0  # of the rows; not stored

    def predict(self, score: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Renewal probability of each score (NaN stays NaN)."""
        s = np.asarray(score, dtype=float)
        if self.method == "isotonic":
            out = np.interp(s, self.params["x"], self.params["y"])
        else:
            a, b = self.params["coef"]
            out = 1.0 / (1.0 + np.exp(-(a + b * s / 100.0)))
        return np.where(np.isnan(s), np.nan, out)


def fit(score: npt.ArrayLike, renewed: npt.ArrayLike, method: Method) -> Calibration:
    """Fit score -> renewal probability on these rows."""
    s = np.asarray(score, dtype=float)
    y = np.asarray(renewed, dtype=float)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    if len(s) == 0:
        raise CalibrationError(
            "no scored rows to calibrate on",
            fix="pick as-of dates whose horizon has passed before the end of the "
            "data, with scored accounts on them",
        )
    if method == "isotonic":
        xs, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=y) / counts
        fitted = pava(means, counts)
        params = {"x": xs.tolist(), "y": fitted.tolist()}
    elif method == "logistic":
        params = {"coef": _logistic(s / 100.0, y).tolist()}
    else:
        raise CalibrationError(
            f"unknown calibration method {method!r}", fix="use isotonic or logistic"
        )
    return Calibration(method, params, rows=len(s), churned=int((y == 0).sum()))


def _logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression of y on [1, x] by Newton steps."""
    design = np.column_stack([np.ones_like(x), x])
    coef = np.zeros(2)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-design @ coef))
        gradient = design.T @ (y - p)
        hessian = design.T @ (design * (p * (1 - p))[:, None])
        step = np.linalg.solve(hessian + 1e-9 * np.eye(2), gradient)
        coef = coef + step
        if np.abs(step).max() < 1e-10:
            break
    return coef


def calibrate(
    store: Store,
    scorecard: Scorecard,
    settings: Settings,
    start: date,
    end: date,
    *,
    every: str = "1mo",
    horizon: str = "180d",
    method: Method = "isotonic",
    version: str | None = None,
) -> Calibration:
    """Fit on the as-of dates from ``start`` to ``end`` whose outcomes are known."""
    from kenko.scorecard.io import version_of
    from kenko.validation.backtest import as_of_dates, scored_outcomes

    version = version or version_of(scorecard.model_dump_json())
    if end < start:
        raise CalibrationError(
            f"the fit ends ({end}) before it starts ({start})",
            fix="give a start on or before the end",
        )
    dates = as_of_dates(start, end, every)
    rows = scored_outcomes(store, scorecard, settings, dates, horizon, version)
    _check_outcomes(len(rows), int(rows["churned"].astype(bool).sum()), len(dates))
    cal = fit(rows["score"], ~rows["churned"].astype(bool), method)
    cal.version, cal.horizon = version, str(Duration.parse(horizon))
    cal.fit_from, cal.fit_to = dates[0], dates[-1]
    log.info("calibrated %s on %d rows (%s .. %s)", method, cal.rows, start, end)
    return cal


def _check_outcomes(n: int, churned: int, dates: int) -> None:
    """Refuse a fit on too few churned or renewed rows; warn on few."""
    renewed = n - churned
    if n == 0:
        raise CalibrationError(
            f"no scored rows to calibrate on: {dates} as-of date(s) gave no scored "
            "account whose outcome is known (every date may be censored)",
            fix="pick earlier dates, at least the horizon before the end of the data",
        )
    if min(churned, renewed) < MIN_OUTCOMES:
        raise CalibrationError(
            f"{n} scored account-dates, {churned} churned and {renewed} renewed: "
            f"a calibration needs at least {MIN_OUTCOMES} of each",
            fix="calibrate over more as-of dates (a longer --from .. --to range)",
        )
    if min(churned, renewed) < FEW_OUTCOMES:
        warnings.warn(
            f"only {churned} churned and {renewed} renewed account-dates on "
            f"{dates} as-of date(s); the calibration is unreliable",
            FewChurnersWarning,
            stacklevel=3,
        )


def save_calibration(store: Store, cal: Calibration) -> None:
    """Store a fit; the newest fit of a version is the one scoring uses."""
    if cal.fit_from is None or cal.fit_to is None:
        raise ValueError("a calibration to store needs the dates it was fitted on")
    with store.begin() as conn:
        conn.execute(
            C.insert().values(
                version=cal.version,
                fitted_at=datetime.now(UTC).replace(tzinfo=None),
                method=cal.method,
                horizon=cal.horizon,
                fit_from=cal.fit_from,
                fit_to=cal.fit_to,
                rows=cal.rows,
                params=json.dumps(cal.params),
            )
        )


def read_calibration(store: Store, version: str) -> Calibration | None:
    """The newest stored fit of ``version``, if any."""
    rows = store.fetch(
        sa.select(C).where(C.c.version == version).order_by(C.c.fitted_at.desc())
    )
    if not rows:
        return None
    r = rows[0]
    return Calibration(
        method=r["method"],
        params=json.loads(r["params"]),
        version=r["version"],
        horizon=r["horizon"],
        fit_from=r["fit_from"],
        fit_to=r["fit_to"],
        rows=r["rows"],
    )


def attach_probabilities(store: Store, run: object) -> None:
    """Set each scored result's ``probability`` when the version has a calibration."""
    version = getattr(run, "version", "")
    cal = read_calibration(store, version)
    if cal is None:
        return
    results: Sequence[object] = getattr(run, "results", [])
    scores = [getattr(r, "score", None) for r in results]
    probs = cal.predict([np.nan if s is None else s for s in scores])
    for r, p in zip(results, probs.tolist(), strict=True):
        r.probability = None if p != p else round(p, 4)  # type: ignore[attr-defined]
