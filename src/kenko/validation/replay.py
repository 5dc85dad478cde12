"""Replaying a scorecard on many past as-of dates, at far less than one run per date.

Every measure of every account active on every date comes from one aggregate query
over events: a small table of (account, as-of) rows with each window bound as a
column is range-joined onto the events, and conditional aggregates do the rest
(``kenko.measures.events.aggregate_events_many``). Values, points and scores then go
through the same code as ``compute_measures`` and ``score_accounts``, once for all
rows of all dates (each row carries its as-of date), so a replayed date gives the
numbers a scoring run on that date gives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd

from kenko.measures import events as ev
from kenko.measures.compute import (
    MeasureFrame,
    account_attributes,
    active_accounts_many,
    active_user_windows,
    check_measures,
    events_start,
    fill_values,
    new_frame,
)
from kenko.measures.windows import zone_bounds
from kenko.scorecard.model import Measure, Scorecard
from kenko.scores import snapshots
from kenko.scores.results import ScoreBlock
from kenko.scores.score import _measures, _score_variant, _segments, _union, _Variant
from kenko.settings import Settings
from kenko.store import Store

log = logging.getLogger(__name__)


def compute_measures_many(
    store: Store, measures: list[Measure], dates: Sequence[date], settings: Settings
) -> pd.DataFrame:
    """Every measure of the accounts active on each date, indexed (account_id, as_of).

    One float column per measure (NaN = no value); ``as_of`` holds ``date`` objects.
    """
    columns = [m.name for m in measures]
    frame = measure_frame(store, measures, dates, settings)
    if frame is None:
        index = pd.MultiIndex.from_arrays([[], []], names=["account_id", "as_of"])
        return pd.DataFrame(index=index, columns=columns, dtype=float)
    return _with_dates(frame.values[columns].astype(float))


def measure_frame(
    store: Store, measures: list[Measure], dates: Sequence[date], settings: Settings
) -> MeasureFrame | None:
    """One MeasureFrame of every date, indexed (account_id, as_of Timestamp) in date
    then account order; each date's rows equal ``compute_measures`` on it. None
    without dates."""
    check_measures(measures)
    days = sorted(set(dates))
    if not days:
        return None
    con = store.ibis()
    accounts = active_accounts_many(con, days, settings)
    accounts = accounts.sort_index(level=["as_of", "account_id"])
    ids = accounts.index.get_level_values("account_id")
    attributes, static = account_attributes(con, pd.Index(ids.unique()))

    # Event measures of every date: one aggregate query.
    event_measures = [m for m in measures if m.source_kind == "events"]
    users = active_user_windows(measures)
    result: ev.EventResult | None = None
    if len(accounts) and (event_measures or users):
        result = _event_result(con, accounts, event_measures, users, days, settings)

    # Values of every row at once, through the same code as compute_measures.
    frame = new_frame(
        days[-1], measures, accounts, attributes.reindex(ids).set_axis(accounts.index)
    )
    start = events_start(con, settings) if event_measures else None
    static = static.reindex(ids).set_axis(accounts.index)
    fill_values(frame, measures, result, static, start)
    log.info(
        "computed %d measures for %d account-dates over %d dates",
        len(measures),
        len(accounts),
        len(days),
    )
    return frame


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its as_of level holding ``date`` objects."""
    ids = frame.index.get_level_values("account_id")
    days = pd.to_datetime(frame.index.get_level_values("as_of")).date
    index = pd.MultiIndex.from_arrays([ids, days], names=["account_id", "as_of"])
    return frame.set_axis(index)


def _event_result(
    con: Any,
    accounts: pd.DataFrame,
    measures: list[Measure],
    users: set[Any],
    days: list[date],
    settings: Settings,
) -> ev.EventResult:
    """Event measures of every row: from partials per segment of time, but medians
    (which do not combine) from events range-joined onto the rows."""
    whole = [m for m in measures if not _combines(m)]
    parts = [m for m in measures if _combines(m)]
    results = []
    if parts or users:
        raw = accounts["timezone"].where(accounts["timezone"].notna(), None)
        zones = {
            (r if isinstance(r, str) else settings.timezone): z
            for r, z in zip(raw, accounts["zone"], strict=True)
        }
        results.append(
            ev.aggregate_events_segments(
                con, parts, users, days, zones, settings.timezone
            )
        )
    if whole:
        bounds, n, fixed = _bounds(accounts, whole, set(), days)
        results.append(ev.aggregate_events_many(con, whole, set(), bounds, n, fixed))
    if len(results) == 1:
        return results[0]
    a, b = results
    return ev.EventResult(
        a.raw.join(b.raw, how="outer"),
        {**a.parts, **b.parts},
        {**a.users, **b.users},
        {**a.periods, **b.periods},
        {**a.period_parts, **b.period_parts},
    )


def _combines(m: Measure) -> bool:
    """Whether a measure's aggregates combine over segments of its window."""
    kind = m.change_of if m.aggregation == "change" else m.aggregation
    return kind in ev.DECOMPOSABLE


def _bounds(
    accounts: pd.DataFrame,
    measures: list[Measure],
    users: set[Any],
    days: list[date],
) -> tuple[pd.DataFrame, int, int | None]:
    """(bounds table, number of offset changes, the one fixed offset if any)."""
    edges = sorted(ev.needed_edges(measures, users=users), key=lambda e: e.column)
    zones = {
        z: zone_bounds(z, {e.day(d) for d in days for e in edges})
        for z in sorted(set(accounts["zone"]))
    }
    n = max(len(z.transitions) for z in zones.values())
    rows = []
    for name, z in zones.items():
        transitions = [*z.transitions, *[ev._FAR_FUTURE] * (n - len(z.transitions))]
        offsets = [*z.offsets, *[z.offsets[-1]] * (n - len(z.transitions))]
        for d in days:
            row: dict[str, Any] = {"zone": name, "as_of": pd.Timestamp(d)}
            row.update({e.column: z.instants[e.day(d)] for e in edges})
            row["b_lo"] = min(z.instants[e.day(d)] for e in edges)
            row.update({f"tr_{i + 1}": t for i, t in enumerate(transitions)})
            row.update({f"off_{i}": o for i, o in enumerate(offsets)})
            rows.append(row)
    keys = accounts["zone"].reset_index()[["account_id", "as_of", "zone"]]
    table = keys.merge(pd.DataFrame(rows), on=["zone", "as_of"]).drop(columns="zone")
    for column in table.columns:
        if column.startswith(("b_", "tr_")):
            table[column] = pd.to_datetime(table[column])
    only = next(iter(zones.values()))
    fixed = only.offsets[0] if len(zones) == 1 and not only.transitions else None
    return table, n, fixed


def replay(
    store: Store,
    scorecard: Scorecard,
    dates: Sequence[date],
    settings: Settings,
    *,
    version: str | None = None,
) -> pd.DataFrame:
    """The scores ``score_accounts`` gives on each date, as one frame.

    Rows (account_id, as_of) of the accounts active on each date; columns segment,
    status, score, band, coverage, ``group:<name>``, ``value:<measure>``,
    ``points:<measure>`` and ``weight:<measure>``. ``version`` (default: the sha256
    of the scorecard's JSON, as in ``score_accounts``) picks the stored snapshots a
    ``carry_last`` measure carries from.
    """
    from kenko.scorecard.io import version_of

    version = version or version_of(scorecard.model_dump_json())
    variants, measures = _union(scorecard)
    frame = measure_frame(store, measures, dates, settings)
    if frame is None or frame.values.empty:
        columns = ["as_of", "segment", "status", "score", "band", "coverage"]
        return (
            pd.DataFrame(columns=columns)
            .rename_axis("account_id")
            .set_index("as_of", append=True)
        )
    stamps = frame.row_dates()
    for day in sorted(set(dates) - set(stamps.dt.date)):
        log.info("no account active on %s; nothing to replay", day)
    blocks = score_frame(store, scorecard, variants, frame, version)
    out = pd.concat([_block_frame(b, ids) for b, ids in blocks])
    out = _with_dates(out.reindex(frame.values.index))
    lead = ["segment", "status", "score", "band", "coverage"]
    return out[lead + [c for c in out.columns if c not in lead]]


def score_frame(
    store: Store,
    scorecard: Scorecard,
    variants: list[_Variant],
    frame: MeasureFrame,
    version: str,
) -> list[tuple[ScoreBlock, pd.Index]]:
    """``score_accounts``'s scoring of every row of a many-date frame, one pass per
    variant (previous scores left out): each block with the rows it holds."""
    segment = _segments(frame, variants)
    carry = sorted(
        {
            v.keys[m.name]
            for v in variants
            for m in _measures(v)
            if m.missing == "carry_last"
        }
    )
    carried = _carried(store, version, frame, carry)
    blocks: list[tuple[ScoreBlock, pd.Index]] = []
    for v in variants:
        ids = segment.index[segment == v.segment]
        if len(ids):
            block = _score_variant(
                frame, v, ids, version, carried, pd.DataFrame(), scorecard.top_reasons
            )
            blocks.append((block, ids))
    return blocks


def _carried(
    store: Store, version: str, frame: MeasureFrame, measures: list[str]
) -> pd.DataFrame:
    """The values ``carry_last`` measures carry to each row's date (``row_as_of``)."""
    if not measures:
        return pd.DataFrame()
    parts = []
    for stamp in frame.row_dates().unique():
        last = snapshots.last_values(store, version, stamp.date(), measures)
        parts.append(last.assign(row_as_of=stamp))
    return pd.concat(parts, ignore_index=True)


def _block_frame(b: ScoreBlock, index: pd.Index) -> pd.DataFrame:
    """One segment's scores as rows ``index``, in the columns of ``replay``."""
    out = pd.DataFrame(
        {
            "segment": b.segment,
            "status": b.status,
            "score": b.score,
            "band": b.band,
            "coverage": b.coverage,
        },
        index=index,
    )
    columns: dict[str, Any] = {}
    for j, g in enumerate(b.group_names):
        columns[f"group:{g}"] = b.group_scores[:, j]
    for j, name in enumerate(b.measure_names):
        columns[f"value:{name}"] = b.values[:, j]
        columns[f"points:{name}"] = b.points[:, j]
        columns[f"weight:{name}"] = b.weights[:, j]
    return pd.concat([out, pd.DataFrame(columns, index=index)], axis=1)
