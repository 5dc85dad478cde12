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
from kenko.scores.results import AccountScore, MeasureResult, Reason, ScoreRun
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
            run.results += _score_variant(
                frame, v, ids, version, carried, previous, scorecard.top_reasons
            )
        progress("scores", len(run.results), total)
    order = {a: i for i, a in enumerate(frame.account_ids)}
    run.results.sort(key=lambda r: order[r.account_id])
    log.info("scored %d accounts as of %s (version %s)", total, as_of, version[:12])
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
) -> list[AccountScore]:
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
        within = None
        if m.scoring.percentile is not None and m.scoring.percentile.within:
            attr = m.scoring.percentile.within
            if attr in frame.attributes.columns:
                within = frame.attributes.loc[ids, attr]
        p = points(m.scoring, raw, within)
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
        oldest = Duration.parse(eligibility.min_tenure).before(frame.as_of)
        first = frame.accounts.loc[ids, "first_start"]
        young = np.array([d > oldest for d in first])
    ok = ~young & (coverage >= eligibility.min_coverage) & ~np.isnan(score)
    lost = (100 - np.nan_to_num(pts)) * effective

    # One AccountScore per account, from plain Python lists (fast to walk).
    prev = previous.reindex(ids)["score"] if "score" in previous else None
    before_all = prev.tolist() if prev is not None else [None] * n
    values_l, pts_l = value.tolist(), pts.tolist()
    weights_l = np.round(effective, 6).tolist()
    lost_l = np.round(lost, 2).tolist()
    notes_l = [
        [x if isinstance(x, str) else None for x in col.tolist()] for col in notes
    ]
    groups_l = np.round(gscore, 1).tolist()
    group_of = [g.name for g, _ in pairs]
    orders = np.argsort(-lost, axis=1, kind="stable")[:, :top].tolist() if top else None
    results = []
    for i, account in enumerate(ids.tolist()):
        row_v, row_p = values_l[i], pts_l[i]
        measures = {
            names[j]: MeasureResult(
                _num(row_v[j]),
                _num(row_p[j]),
                weights_l[i][j],
                group_of[j],
                notes_l[j][i],
            )
            for j in range(k)
        }
        scored = bool(ok[i])
        s = round(float(score[i]), 1) if scored else None
        reasons: list[Reason] = []
        if scored and orders is not None:
            reasons = [
                Reason(names[j], group_of[j], _num(row_v[j]), row_p[j], lost_l[i][j])
                for j in orders[i]
                if lost_l[i][j] > 0
            ]
        before = _num(before_all[i])
        results.append(
            AccountScore(
                account_id=str(account),
                as_of=frame.as_of,
                version=version,
                segment=v.segment,
                score=s,
                band=v.variant.band_for(s).name if s is not None else None,
                status="scored" if scored else "insufficient_data",
                coverage=round(float(coverage[i]), 4),
                groups={g.name: _num(groups_l[i][gi]) for gi, g in enumerate(groups)},
                measures=measures,
                reasons=reasons,
                previous_score=before,
                change=None if s is None or before is None else round(s - before, 1),
            )
        )
    return results


def _num(x: float | None) -> float | None:
    # NaN is the only value not equal to itself.
    return None if x is None or x != x else float(x)


def _carry(
    raw: pd.Series, note: pd.Series, carried: pd.DataFrame, key: str
) -> tuple[pd.Series, pd.Series]:
    """Fill missing values with the last stored one of this measure and version."""
    if carried.empty:
        return raw, note
    last = carried[carried["measure"] == key].set_index("account_id")
    last = last.reindex(raw.index)
    fill = raw.isna() & last["value"].notna()
    raw = raw.where(~fill, last["value"])
    note = note.copy()
    for account in fill[fill].index:
        note[account] = f"carried from {last.at[account, 'as_of'].isoformat()}"
    return raw, note
