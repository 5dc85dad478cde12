"""Measures → points → group scores → score, band, status and reasons."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from kenko.durations import Duration
from kenko.measures import MeasureFrame, compute_measures
from kenko.scorecard.model import Measure, Scorecard, ScorecardVariant
from kenko.scores import snapshots
from kenko.scores.points import points
from kenko.scores.results import ScoreBlock, ScoreRun
from kenko.settings import Settings
from kenko.store import Store
from kenko.warnings import EmptyScoreWarning

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass
class _Variant:
    segment: str
    when: dict[str, str | list[str]] | None
    variant: ScorecardVariant
    keys: dict[str, str]  # measure name in the variant -> column in the measure frame


def score_accounts(
    store: Store,
    scorecard: Scorecard,
    as_of: date,
    settings: Settings,
    *,
    version: str | None = None,
    scorecard_text: str | None = None,
    on_progress: Progress | None = None,
) -> ScoreRun:
    """Score every account active on ``as_of`` (computes; ``save_snapshots`` stores).

    ``version`` defaults to the sha256 of ``scorecard_text`` (else of the scorecard's
    JSON); the text is kept on the run so the saved version row can hold it.
    """
    from kenko.scorecard.io import version_of

    text = scorecard_text if scorecard_text is not None else scorecard.model_dump_json()
    version = version or version_of(text)
    progress = on_progress or (lambda step, done, total: None)

    # Measures of every variant, computed together.
    variants, measures = _union(scorecard)
    progress("measures", 0, 1)
    frame = compute_measures(store, measures, as_of, settings)
    progress("measures", 1, 1)
    run = ScoreRun(as_of, version, scorecard.name, [], list(frame.warnings), text)
    run.order = [str(a) for a in frame.account_ids]
    if not frame.account_ids:
        message = f"no account has a subscription active on {as_of}; nothing to score"
        run.warnings.append(message)
        warnings.warn(message, EmptyScoreWarning, stacklevel=2)
        return run

    # Segments, carried values and previous scores.
    segment = _segments(frame, variants)
    carry = [
        k
        for v in variants
        for m in _measures(v)
        if m.missing == "carry_last"
        for k in [v.keys[m.name]]
    ]
    carried = snapshots.last_values(store, version, as_of, sorted(set(carry)))
    previous = snapshots.previous_scores(store, version, as_of)

    total = len(frame.account_ids)
    for v in variants:
        ids = segment.index[segment == v.segment]
        if len(ids):
            run.blocks.append(
                _score_variant(
                    frame, v, ids, version, carried, previous, scorecard.top_reasons
                )
            )
        progress("scores", len(run), total)
    log.info("scored %d accounts as of %s (version %s)", total, as_of, version[:12])
    from kenko.validation.calibrate import attach_probabilities

    attach_probabilities(store, run)
    return run


def _measures(v: _Variant) -> list[Measure]:
    return [m for _, m in v.variant.measures()]


def _union(scorecard: Scorecard) -> tuple[list[_Variant], list[Measure]]:
    """Variants, and the distinct measures they need under unique column names.

    A measure name shared by variants with different definitions gets a column per
    segment (``name__segment``), and formulas of that variant are rewritten to match.
    """
    variants = [_Variant(s, w, v, {}) for s, w, v in scorecard.variants()]
    seen: dict[str, Measure] = {}
    for v in variants:
        renamed: dict[str, str] = {}
        for m in _measures(v):
            same = seen.get(m.name)
            if same is None or same.model_dump() == m.model_dump():
                v.keys[m.name] = m.name
            else:
                renamed[m.name] = f"{m.name}__{v.segment}"
                v.keys[m.name] = renamed[m.name]
        for m in _measures(v):
            key = v.keys[m.name]
            if key in seen:
                continue
            update: dict[str, str] = {"name": key}
            if m.formula and renamed:
                update["formula"] = _rename(m.formula, renamed)
            seen[key] = m.model_copy(update=update)
    return variants, list(seen.values())


def _rename(text: str, renamed: dict[str, str]) -> str:
    pattern = r"\b(" + "|".join(map(re.escape, renamed)) + r")\b"
    return re.sub(pattern, lambda x: renamed[x.group(1)], text)


def _segments(frame: MeasureFrame, variants: list[_Variant]) -> pd.Series:
    """The first segment whose ``when`` all match, else the default."""
    index = frame.values.index
    out = pd.Series(None, index=index, dtype=object)
    for v in variants:
        match = pd.Series(True, index=index)
        for key, wanted in (v.when or {}).items():
            if key not in frame.attributes.columns:
                match &= False
                continue
            have = frame.attributes[key]
            options = wanted if isinstance(wanted, list) else [wanted]
            match &= have.isin(options)
        out[match & out.isna()] = v.segment
    return out


def _score_variant(
    frame: MeasureFrame,
    v: _Variant,
    ids: pd.Index,
    version: str,
    carried: pd.DataFrame,
    previous: pd.DataFrame,
    top: int,
) -> ScoreBlock:
    """The scores of the rows ``ids`` of ``frame`` under one variant.

    The rows of a many-date frame carry their own as-of dates: percentile points
    rank each date's accounts among themselves, eligibility counts tenure to each
    row's date, and ``carried`` is then keyed by (account_id, as_of) too.
    """
    pairs = v.variant.measures()
    n, k = len(ids), len(pairs)
    names = [m.name for _, m in pairs]
    value = np.full((n, k), np.nan)
    pts = np.full((n, k), np.nan)
    real = np.zeros((n, k), dtype=bool)
    notes: list[pd.Series] = []

    # Values and points, with each measure's missing policy.
    for j, (_, m) in enumerate(pairs):
        key = v.keys[m.name]
        raw = frame.values.loc[ids, key].astype(float)
        note = frame.notes.loc[ids, key].astype(object)
        if m.missing == "carry_last":
            raw, note = _carry(raw, note, carried, key)
        p = points(m.scoring, raw, _rank_within(frame, m, ids))
        has = raw.notna().to_numpy()
        if m.missing == "zero":
            p = p.fillna(0.0)
        elif m.missing == "neutral":
            p = p.fillna(float(m.neutral_points))
        value[:, j] = raw.to_numpy()
        pts[:, j] = p.to_numpy()
        real[:, j] = has
        notes.append(note)

    # Group scores and the score, renormalising over what has points.
    w = np.array([m.weight for _, m in pairs], dtype=float)
    groups = v.variant.groups
    gidx = np.array(
        [next(i for i, g in enumerate(groups) if g is grp) for grp, _ in pairs]
    )
    gw = np.array([g.weight for g in groups], dtype=float)
    counted = ~np.isnan(pts) & (w > 0)
    wp = np.where(counted, w, 0.0)
    den = np.stack([wp[:, gidx == i].sum(axis=1) for i in range(len(groups))], axis=1)
    num = np.stack(
        [
            (wp * np.nan_to_num(pts))[:, gidx == i].sum(axis=1)
            for i in range(len(groups))
        ],
        axis=1,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        gscore = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    gcount = ~np.isnan(gscore) & (gw > 0)
    gwc = np.where(gcount, gw, 0.0)
    gden = gwc.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(
            gden > 0, (gwc * np.nan_to_num(gscore)).sum(axis=1) / gden, np.nan
        )
        share_g = np.where(gden[:, None] > 0, gwc / gden[:, None], 0.0)
        den_m = den[:, gidx]
        effective = np.where(
            counted & (den_m > 0),
            share_g[:, gidx] * wp / np.where(den_m > 0, den_m, 1),
            0.0,
        )

    # Coverage: the nominal weight whose measure had a real value.
    total_w = np.array([sum(m.weight for m in g.measures) for g in groups], dtype=float)
    nominal_g = gw / gw.sum() if gw.sum() > 0 else np.zeros_like(gw)
    nominal = np.where(
        total_w[gidx] > 0,
        nominal_g[gidx] * w / np.where(total_w[gidx] > 0, total_w[gidx], 1),
        0.0,
    )
    coverage = (real * nominal).sum(axis=1)

    # Eligibility.
    eligibility = v.variant.eligibility
    young = np.zeros(n, dtype=bool)
    if eligibility.min_tenure:
        tenure = Duration.parse(eligibility.min_tenure)
        dates = frame.row_dates().loc[ids].dt.date
        oldest = dates.map({d: tenure.before(d) for d in dates.unique()})
        first = frame.accounts.loc[ids, "first_start"]
        young = np.array([d > o for d, o in zip(first, oldest, strict=True)])
    ok = ~young & (coverage >= eligibility.min_coverage) & ~np.isnan(score)
    lost = (100 - np.nan_to_num(pts)) * effective

    # The block of arrays; AccountScore objects are made only when read.
    prev = previous.reindex(ids)["score"] if "score" in previous else None
    before = (
        prev.to_numpy(dtype=float, na_value=np.nan)
        if prev is not None
        else np.full(n, np.nan)
    )
    final = np.where(ok, np.round(score, 1), np.nan)
    lost_r = np.round(lost, 2)
    reasons: list[list[int]] = [[] for _ in range(n)]
    if top:
        orders = np.argsort(-lost, axis=1, kind="stable")[:, :top]
        keep = (np.take_along_axis(lost_r, orders, axis=1) > 0) & ok[:, None]
        # Plain lists: a numpy call per row costs more than the row's work.
        reasons = [
            [j for j, k in zip(row, mask, strict=True) if k]
            for row, mask in zip(orders.tolist(), keep.tolist(), strict=True)
        ]
    band = [None if x != x else v.variant.band_for(x).name for x in final.tolist()]
    return ScoreBlock(
        segment=v.segment,
        version=version,
        as_of=frame.as_of,
        account_ids=[str(a) for a in ids.get_level_values(0).tolist()],
        score=final,
        band=band,
        status=["scored" if x else "insufficient_data" for x in ok.tolist()],
        coverage=np.round(coverage, 4),
        previous=before,
        change=np.round(final - before, 1),
        group_names=[g.name for g in groups],
        group_scores=np.round(gscore, 1),
        measure_names=names,
        measure_groups=[g.name for g, _ in pairs],
        values=value,
        points=pts,
        weights=np.round(effective, 6),
        notes=[
            [x if isinstance(x, str) else None for x in col.tolist()] for col in notes
        ],
        reasons=reasons,
        lost=lost_r,
    )


def _rank_within(frame: MeasureFrame, m: Measure, ids: pd.Index) -> pd.Series | None:
    """What percentile points rank within: the attribute, and a many-date frame's
    as-of date (None: every row together)."""
    if m.scoring.percentile is None:
        return None
    within = None
    attr = m.scoring.percentile.within
    if attr and attr in frame.attributes.columns:
        within = frame.attributes.loc[ids, attr]
    if not frame.many:
        return within
    day = frame.row_dates().loc[ids].dt.strftime("%Y-%m-%d")
    if within is None:
        return day
    # The attribute's missing values rank together, as in a one-date frame.
    return day + "|" + within.fillna("").astype(str)


def _num(x: float | None) -> float | None:
    # NaN is the only value not equal to itself.
    return None if x is None or x != x else float(x)


def _carry(
    raw: pd.Series, note: pd.Series, carried: pd.DataFrame, key: str
) -> tuple[pd.Series, pd.Series]:
    """Fill missing values with the last stored one of this measure and version.

    ``carried`` holds account_id, measure, value and as_of (the stored date); for a
    many-date frame also ``row_as_of``, the date of the row it fills.
    """
    if carried.empty:
        return raw, note
    keys = ["account_id", "row_as_of"] if "row_as_of" in carried else ["account_id"]
    last = carried[carried["measure"] == key].set_index(keys)
    last = last.reindex(raw.index)
    fill = raw.isna() & last["value"].notna()
    raw = raw.where(~fill, last["value"])
    note = note.copy()
    for row in fill[fill].index:
        note[row] = f"carried from {last.at[row, 'as_of'].isoformat()}"
    return raw, note
