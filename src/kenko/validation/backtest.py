"""Backtest: replay a scorecard on past dates and see whether red accounts churned.

Each as-of date is replayed point in time (``replay``): the accounts it scores are
the population, and their outcomes are looked up (``label_outcomes``). Every
account-date of the population is counted once: scored (and judged), insufficient
data, censored (horizon past the end of the data) or unlabelled (active for the
scorer but given no outcome). The renewal probability behind the Brier score, the
calibration table and expected vs actual renewals is fitted on the earlier half of
the dates and judged on the later half, so no figure grades a fit on the rows it was
fitted to.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from kenko.durations import Duration
from kenko.scorecard.model import Scorecard
from kenko.settings import Settings
from kenko.store import Store
from kenko.validation import metrics
from kenko.validation.calibrate import fit
from kenko.validation.outcomes import label_outcomes
from kenko.validation.replay import replay
from kenko.warnings import FewChurnersWarning

log = logging.getLogger(__name__)

MIN_CHURNERS = 10  # below this many churned accounts a figure gets a warning


def as_of_dates(start: date, end: date, every: str) -> list[date]:
    """start, start + every, start + 2 x every, ... up to ``end`` (calendar-clamped)."""
    step = Duration.parse(every)
    if end < start:
        raise ValueError(f"the backtest ends ({end}) before it starts ({start})")
    dates: list[date] = []
    i = 0
    while True:
        day = step.after(start, i)
        assert isinstance(day, date)
        if day > end:
            return dates
        dates.append(day)
        i += 1


def scored_outcomes(
    store: Store,
    scorecard: Scorecard,
    settings: Settings,
    dates: Sequence[date],
    horizon: str,
    version: str | None = None,
) -> pd.DataFrame:
    """Replayed scores with outcomes: a row per scored, labelled account-date."""
    scores = replay(store, scorecard, dates, settings, version=version)
    outcomes = label_outcomes(store, dates, horizon, settings)
    labels = outcomes.labels.set_index(["account_id", "as_of"])
    scored = scores[scores["status"] == "scored"]
    return scored.join(labels[["churned"]], how="inner")


@dataclass
class Figures:
    """How well scores separate churners, on one set of rows."""

    rows: int
    churned: int
    churn_rate: float
    auc: float
    auc_low: float
    auc_high: float
    top_decile_lift: float
    precision_red: float
    recall_red: float
    brier: float  # of the calibrated probability, on the later half of the dates

    def to_dict(self) -> dict[str, Any]:
        return {k: metrics._json(v) for k, v in self.__dict__.items()}


@dataclass
class BacktestResult:
    """Everything ``kenko backtest`` reports; ``to_dict`` is its JSON shape."""

    scorecard: str
    version: str
    dates: list[date]
    horizon: str
    data_end: date
    # Account-dates the scorer finds active: scored + insufficient + censored +
    # unlabelled, always.
    active: int
    censored: int  # active, left out: horizon past the end of the data
    insufficient: int  # active and labelled but not scored (insufficient data)
    overall: Figures
    segments: dict[str, Figures]
    bands: pd.DataFrame  # band, rows, churned, churn_rate, low, high
    bands_over_time: pd.DataFrame  # as_of, band, rows, churned, churn_rate
    calibration: pd.DataFrame  # low, high, n, predicted, observed
    expected_vs_actual: pd.DataFrame  # band, n, expected, actual
    roc: pd.DataFrame  # fpr, tpr
    warnings: list[str] = field(default_factory=list)
    unlabelled: int = 0  # active for the scorer, neither labelled nor censored
    compare: BacktestResult | None = None
    paired: metrics.PairedDifference | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scorecard": self.scorecard,
            "version": self.version,
            "dates": [d.isoformat() for d in self.dates],
            "horizon": self.horizon,
            "data_end": self.data_end.isoformat(),
            "counts": {
                "active": self.active,
                "censored": self.censored,
                "insufficient_data": self.insufficient,
                "unlabelled": self.unlabelled,
                "scored": self.overall.rows,
            },
            "overall": self.overall.to_dict(),
            "segments": {k: v.to_dict() for k, v in self.segments.items()},
            "bands": _records(self.bands),
            "bands_over_time": _records(self.bands_over_time),
            "calibration": _records(self.calibration),
            "expected_vs_actual": _records(self.expected_vs_actual),
            "warnings": list(self.warnings),
        }
        if self.compare is not None and self.paired is not None:
            out["compare"] = self.compare.to_dict()
            out["paired_auc_difference"] = self.paired.to_dict()
        return out


def backtest(
    store: Store,
    scorecard: Scorecard,
    settings: Settings,
    start: date,
    end: date,
    every: str = "1mo",
    horizon: str = "180d",
    compare: Scorecard | None = None,
    *,
    version: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> BacktestResult:
    """Replay ``scorecard`` on each date from ``start`` to ``end`` and judge it."""
    dates = as_of_dates(start, end, every)
    if not dates:
        raise ValueError("no as-of date between start and end")
    outcomes = label_outcomes(store, dates, horizon, settings)
    labels = outcomes.labels.set_index(["account_id", "as_of"])[["churned"]]
    result = _judge(
        store, scorecard, settings, dates, labels, version, n_boot, seed, outcomes
    )
    if compare is not None:
        other = _judge(
            store, compare, settings, dates, labels, None, n_boot, seed, outcomes
        )
        a, b = result.bands.attrs["rows"], other.bands.attrs["rows"]
        both = a.join(b[["score"]].rename(columns={"score": "score_b"}), how="inner")
        result.compare = other
        result.paired = metrics.paired_auc_difference(
            both["churned"], -both["score"], -both["score_b"], n_boot=n_boot, seed=seed
        )
    return result


def _judge(
    store: Store,
    scorecard: Scorecard,
    settings: Settings,
    dates: list[date],
    labels: pd.DataFrame,
    version: str | None,
    n_boot: int,
    seed: int,
    outcomes: Any,
) -> BacktestResult:
    from kenko.scorecard.io import version_of

    version = version or version_of(scorecard.model_dump_json())
    scores = replay(store, scorecard, dates, settings, version=version)
    counts = _population(scores, labels, outcomes.censored)
    labelled = scores.join(labels, how="inner")
    rows = labelled[labelled["status"] == "scored"].copy()
    rows["churned"] = rows["churned"].astype(bool)
    caveats: list[str] = []

    # The renewal probability: fitted on the earlier half, judged on the later half.
    as_of = pd.Series(rows.index.get_level_values("as_of"), index=rows.index)
    split = dates[len(dates) // 2] if len(dates) > 1 else None
    later = as_of >= split if split is not None else as_of < date.min
    earlier = ~later
    rows["probability"] = np.nan
    if split is not None and earlier.any() and later.any():
        cal = fit(rows.loc[earlier, "score"], ~rows.loc[earlier, "churned"], "isotonic")
        rows.loc[later, "probability"] = cal.predict(rows.loc[later, "score"])
    else:
        caveats.append(
            "fewer than two as-of dates with scored accounts: no out-of-sample "
            "renewal probability, so no Brier score or calibration table"
        )
    red = {s: v.bands[0].name for s, _, v in scorecard.variants()}
    rows["red"] = rows["band"] == rows["segment"].map(red)
    judged = rows[later]
    overall = _figures(rows, judged, n_boot, seed, "all accounts", caveats)
    segments = {
        s: _figures(g, judged[judged["segment"] == s], n_boot, seed, s, caveats)
        if len(g) < len(rows)
        else _caveat(overall, s, caveats)  # one segment holds every row
        for s, g in rows.groupby("segment", sort=True)
    }
    bands = _bands(rows, scorecard)
    bands.attrs["rows"] = rows[["score", "churned"]]
    over_time = (
        rows.reset_index()
        .groupby(["as_of", "band"], sort=True)["churned"]
        .agg(rows="size", churned="sum")
        .reset_index()
    )
    over_time["churn_rate"] = over_time["churned"] / over_time["rows"]
    renewed = ~judged["churned"]
    for w in caveats:
        warnings.warn(w, FewChurnersWarning, stacklevel=3)
    return BacktestResult(
        scorecard=scorecard.name,
        version=version,
        dates=dates,
        horizon=str(outcomes.horizon),
        data_end=outcomes.data_end,
        active=len(scores),
        censored=counts["censored"],
        insufficient=counts["insufficient"],
        unlabelled=counts["unlabelled"],
        overall=overall,
        segments=segments,
        bands=bands,
        bands_over_time=over_time,
        calibration=metrics.calibration_table(renewed, judged["probability"]),
        expected_vs_actual=metrics.expected_vs_actual(
            judged["band"], judged["probability"], renewed
        ),
        roc=_roc(rows["churned"].to_numpy(), -rows["score"].to_numpy()),
        warnings=caveats,
    )


def _population(
    scores: pd.DataFrame, labels: pd.DataFrame, censored: pd.DataFrame
) -> dict[str, int]:
    """How the scorer's account-dates split: insufficient (labelled, not scored),
    censored and unlabelled. The labeller may see more accounts active (a line item
    ending on or after the end of the data still runs for it); those are not
    counted."""
    index = scores.index
    labelled = index.isin(labels.index)
    late = pd.MultiIndex.from_frame(censored[["account_id", "as_of"]])
    is_censored = ~labelled & index.isin(late)
    unlabelled = int((~labelled & ~is_censored).sum())
    if unlabelled:
        log.warning(
            "%d active account-dates have no outcome (neither labelled nor censored)",
            unlabelled,
        )
    return {
        "insufficient": int((labelled & (scores["status"] != "scored")).sum()),
        "censored": int(is_censored.sum()),
        "unlabelled": unlabelled,
    }


def _figures(
    rows: pd.DataFrame,
    judged: pd.DataFrame,
    n_boot: int,
    seed: int,
    what: str,
    caveats: list[str],
) -> Figures:
    y, risk = rows["churned"].to_numpy(), -rows["score"].to_numpy()
    k = int(y.sum())
    _few_churners(k, len(y), what, caveats)
    low, high = metrics.bootstrap_auc(y, risk, n_boot=n_boot, seed=seed)
    precision, recall = metrics.precision_recall(y, rows["red"].to_numpy())
    return Figures(
        rows=len(y),
        churned=k,
        churn_rate=k / len(y) if len(y) else math.nan,
        auc=metrics.roc_auc(y, risk),
        auc_low=low,
        auc_high=high,
        top_decile_lift=metrics.top_lift(y, risk, 0.1),
        precision_red=precision,
        recall_red=recall,
        brier=metrics.brier(~judged["churned"].to_numpy(), judged["probability"])
        if len(judged)
        else math.nan,
    )


def _few_churners(k: int, n: int, what: str, caveats: list[str]) -> None:
    if k < MIN_CHURNERS:
        caveats.append(
            f"only {k} churned accounts among {n} scored account-dates "
            f"({what}); AUC and lift are unreliable"
        )


def _caveat(figures: Figures, what: str, caveats: list[str]) -> Figures:
    """``figures`` again for ``what``, which holds the same rows."""
    _few_churners(figures.churned, figures.rows, what, caveats)
    return replace(figures)


def _bands(rows: pd.DataFrame, scorecard: Scorecard) -> pd.DataFrame:
    order = [b.name for _, _, v in scorecard.variants() for b in v.bands]
    order = list(dict.fromkeys(order))
    table = rows.groupby("band")["churned"].agg(rows="size", churned="sum")
    table = table.reindex([b for b in order if b in table.index]).reset_index()
    table["churned"] = table["churned"].astype(int)
    table["churn_rate"] = table["churned"] / table["rows"]
    intervals = [
        metrics.wilson(k, n) for k, n in zip(table.churned, table.rows, strict=True)
    ]
    table["low"] = [lo for lo, _ in intervals]
    table["high"] = [hi for _, hi in intervals]
    return table


def _roc(y: np.ndarray, risk: np.ndarray, points: int = 200) -> pd.DataFrame:
    """The ROC curve, thresholds at each distinct risk (thinned to ~``points``)."""
    if len(y) == 0 or y.all() or not y.any():
        return pd.DataFrame({"fpr": [], "tpr": []})
    order = np.argsort(-risk, kind="stable")
    r, t = risk[order], y[order]
    last = np.r_[r[1:] != r[:-1], True]
    tp, fp = np.cumsum(t)[last], np.cumsum(~t)[last]
    tpr, fpr = np.r_[0, tp / t.sum()], np.r_[0, fp / (~t).sum()]
    keep = np.unique(np.linspace(0, len(tpr) - 1, min(points, len(tpr))).astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {
                k: v.isoformat() if isinstance(v, date) else metrics._json(v)
                for k, v in row.items()
            }
        )
    return out
