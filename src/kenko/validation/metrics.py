"""How well a score separates churners: AUC, lift, Brier, calibration, intervals.

Every function takes plain arrays: ``churned`` (bool) and a ``risk`` that is higher
for accounts more likely to churn (a health score's negative). Ties count half, as
in the Mann-Whitney statistic. Intervals are seeded so reruns give the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

Array = npt.ArrayLike


def _bool(y: Array) -> np.ndarray:
    return np.asarray(y, dtype=bool)


def _float(x: Array) -> np.ndarray:
    return np.asarray(x, dtype=float)


def roc_auc(churned: Array, risk: Array) -> float:
    """P(a churner's risk > a renewer's), ties counting half; NaN without both."""
    y, r = _bool(churned), _float(risk)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = stats.rankdata(r)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _resampled_auc(y: np.ndarray, r: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """AUC of each resample; ``draws`` holds the row indices drawn, one row each."""
    _, group = np.unique(r, return_inverse=True)
    k, b = int(group.max()) + 1, draws.shape[0]
    # One gather of each row's (risk group, churned) cell, offset per resample, and
    # one count: a few passes over the n_boot x n draws.
    key = (2 * group + y).astype(np.int64)[draws]
    key += 2 * k * np.arange(b, dtype=np.int64)[:, None]
    counts = np.bincount(key.ravel(), minlength=2 * k * b).reshape(b, k, 2)
    neg, pos = counts[:, :, 0].astype(float), counts[:, :, 1].astype(float)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _draws(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Row indices of ``n_boot`` resamples of n rows drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_auc(
    churned: Array,
    risk: Array,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``roc_auc``, rows resampled with replacement."""
    y, r = _bool(churned), _float(risk)
    if len(y) == 0 or y.all() or not y.any():
        return math.nan, math.nan
    aucs = _resampled_auc(y, r, _draws(len(y), n_boot, seed))
    lo, hi = np.nanquantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class PairedDifference:
    """AUC of A minus AUC of B on the same rows, with a paired bootstrap interval."""

    auc_a: float
    auc_b: float
    difference: float
    low: float
    high: float
    # Two-sided: (resamples on the other side of 0 + 1) / (resamples + 1), doubled,
    # so never 0: with none on the other side it is the bound 2 / (n + 1).
    p_value: float
    resamples: int = 0

    @property
    def p_value_below(self) -> float | None:
        """The bound the p-value is reported as when no resample crossed 0."""
        if self.resamples == 0 or math.isnan(self.p_value):
            return None
        bound = 2 / (self.resamples + 1)
        return bound if self.p_value <= bound else None

    def to_dict(self) -> dict[str, float]:
        out = {k: _json(v) for k, v in self.__dict__.items() if k != "resamples"}
        out["p_value_below"] = _json(self.p_value_below)
        return out


def paired_auc_difference(
    churned: Array,
    risk_a: Array,
    risk_b: Array,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """AUC(A) - AUC(B), the same resampled rows scoring both (a paired bootstrap)."""
    y, a, b = _bool(churned), _float(risk_a), _float(risk_b)
    auc_a, auc_b = roc_auc(y, a), roc_auc(y, b)
    if math.isnan(auc_a) or math.isnan(auc_b):
        return PairedDifference(auc_a, auc_b, math.nan, math.nan, math.nan, math.nan)
    draws = _draws(len(y), n_boot, seed)
    diff = _resampled_auc(y, a, draws) - _resampled_auc(y, b, draws)
    diff = diff[~np.isnan(diff)]
    lo, hi = np.quantile(diff, [(1 - level) / 2, (1 + level) / 2])
    n = len(diff)
    crossed = int(min((diff <= 0).sum(), (diff >= 0).sum()))
    p = min(1.0, 2 * (crossed + 1) / (n + 1))
    return PairedDifference(
        auc_a, auc_b, auc_a - auc_b, float(lo), float(hi), p, resamples=n
    )


def top_lift(churned: Array, risk: Array, share: float = 0.1) -> float:
    """Churn rate of the riskiest ``share`` of rows over the overall churn rate.

    The cut takes exactly ``share`` x n rows; a group of tied risks straddling it
    counts in proportion (the expected rate when ties are broken at random).
    """
    y, r = _bool(churned), _float(risk)
    n = len(y)
    if n == 0 or not y.any():
        return math.nan
    take = share * n
    frame = pd.DataFrame({"r": r, "y": y})
    groups = frame.groupby("r", sort=True)["y"].agg(["size", "sum"]).iloc[::-1]
    before = groups["size"].cumsum() - groups["size"]
    part = np.clip(take - before, 0, groups["size"]) / groups["size"]
    churners = float((part * groups["sum"]).sum())
    return (churners / take) / (y.sum() / n)


def brier(outcome: Array, probability: Array) -> float:
    """Mean squared gap between a probability and what happened (0 or 1)."""
    y, p = _float(outcome), _float(probability)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def precision_recall(churned: Array, flagged: Array) -> tuple[float, float]:
    """(churners among the flagged, flagged among the churners); NaN when empty."""
    y, f = _bool(churned), _bool(flagged)
    hits = float((y & f).sum())
    precision = hits / f.sum() if f.any() else math.nan
    recall = hits / y.sum() if y.any() else math.nan
    return precision, recall


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n, within [0, 1], 12 decimals.

    The rounding drops float noise such as a low bound of 3e-18 for k = 0.
    """
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf((1 + level) / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = round(min(max(centre - half, 0.0), 1.0), 12)
    high = round(min(max(centre + half, 0.0), 1.0), 12)
    return low, high


def calibration_table(
    renewed: Array, probability: Array, bins: int = 10
) -> pd.DataFrame:
    """Equal-width probability bins: rows, predicted and observed renewal rate.

    A bin holds (lo, hi], the first also 0 (the binning of scikit-learn's
    ``calibration_curve``); empty bins are left out.
    """
    y, p = _float(renewed), _float(probability)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    frame = pd.DataFrame({"bin": ids, "p": p, "y": y})
    table = frame.groupby("bin").agg(
        n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean")
    )
    table.insert(0, "low", edges[table.index])
    table.insert(1, "high", edges[table.index + 1])
    return table.reset_index(drop=True)


def expected_vs_actual(band: Array, probability: Array, renewed: Array) -> pd.DataFrame:
    """Per band: accounts, expected renewals (sum of probabilities), actual ones."""
    frame = pd.DataFrame(
        {"band": np.asarray(band), "p": _float(probability), "y": _float(renewed)}
    )
    table = frame.groupby("band", sort=False).agg(
        n=("y", "size"), expected=("p", "sum"), actual=("y", "sum")
    )
    table["actual"] = table["actual"].astype(int)
    return table.reset_index()


def _json(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return _json(value.item())
    return value
