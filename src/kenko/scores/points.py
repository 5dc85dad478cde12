"""Turning measure values into 0-100 points, for many accounts at once."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kenko.scorecard.model import Scoring


def points(
    scoring: Scoring, values: pd.Series, within: pd.Series | None = None
) -> pd.Series:
    """Points for each value; NaN stays NaN (the missing policy decides)."""
    scheme = scoring.scheme
    v = values.astype(float)
    if scheme == "thresholds":
        assert scoring.thresholds is not None
        rows = sorted(
            (t for t in scoring.thresholds if t.min is not None),
            key=lambda t: t.min if t.min is not None else 0.0,
            reverse=True,
        )
        floor = next((t.points for t in scoring.thresholds if t.min is None), 0.0)
        out = pd.Series(float(floor), index=v.index)
        reached = pd.Series(False, index=v.index)
        for t in rows:
            assert t.min is not None
            hit = (v >= t.min) & ~reached
            out[hit] = t.points
            reached |= hit
        return out.where(v.notna())
    if scheme == "linear":
        assert scoring.linear is not None
        lin = scoring.linear
        share = (v - lin.zero_at) / (lin.full_at - lin.zero_at)
        return (share.clip(0, 1) * 100).where(v.notna())
    if scheme == "boolean":
        assert scoring.boolean is not None
        b = scoring.boolean
        out = pd.Series(np.where(v > 0, b.true_points, b.false_points), index=v.index)
        return out.astype(float).where(v.notna())
    assert scoring.percentile is not None
    return percentile_points(v, within, scoring.percentile.higher_is_better)


def percentile_points(
    values: pd.Series, within: pd.Series | None, higher_is_better: bool
) -> pd.Series:
    """Percentile rank: (accounts below + half of those equal) / n x 100.

    Ranks are taken among the accounts with a value, within each value of ``within``
    when given (accounts without that attribute rank together).
    """
    # Sums of the same values in another order can differ in the last bit; round
    # so that equal values tie however the database added them up.
    present = values.dropna().round(9)
    if within is None:
        keys = pd.Series("", index=present.index)
    else:
        keys = within.reindex(present.index).fillna("").astype(str)
    ranks = present.groupby(keys).rank(method="average")
    counts = present.groupby(keys).transform("count")
    pr = (ranks - 0.5) / counts * 100
    if not higher_is_better:
        pr = 100 - pr
    return pr.reindex(values.index).astype(float)
