"""Event measures: one aggregate query over events, one more for per-period measures.

Each measure becomes a few conditional aggregates (``count(where=...)``) over the events
of its window; identical aggregates are shared between measures. Bounds are local
midnights turned into UTC instants in Python (``windows.py``): literals when every
scored account shares one time zone, else a small table joined on the time zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import ibis
import numpy as np
import pandas as pd

from kenko.durations import Duration
from kenko.measures.windows import ZoneBounds, start_of
from kenko.scorecard.model import Measure

log = logging.getLogger(__name__)

_FAR_FUTURE = datetime(2999, 1, 1)


def window_of(measure: Measure) -> Duration:
    return Duration.parse(measure.window)


def window_days(measure: Measure, as_of: date) -> int:
    """Length of a measure's window in days as of ``as_of`` (months vary)."""
    return (as_of - start_of(window_of(measure), as_of)).days


def period_count(measure: Measure) -> int | None:
    """k = window / period when it is a whole number, else None."""
    assert measure.per_period is not None
    window = window_of(measure)
    period = Duration.parse(measure.per_period.period)
    if window.is_calendar != period.is_calendar:
        return None
    if window.is_calendar:
        w = window.n * (12 if window.unit == "y" else 1)
        p = period.n * (12 if period.unit == "y" else 1)
    else:
        w, p = int(window.approx_days()), int(period.approx_days())
    return w // p if w % p == 0 else None


def needed_days(
    measures: list[Measure], as_of: date, *, users: set[Duration]
) -> set[date]:
    """Every local date whose midnight bounds a window, including ``as_of`` itself."""
    days = {as_of}
    for w in users:
        days.add(start_of(w, as_of))
    for m in measures:
        w = window_of(m)
        days.add(start_of(w, as_of))
        if m.aggregation == "change":
            days.add(start_of(w, as_of, 2))
        if m.per_period is not None:
            period = Duration.parse(m.per_period.period)
            k = period_count(m) or 0
            days.update(start_of(period, as_of, i) for i in range(1, k + 1))
    return days


@dataclass
class _Bounds:
    """Ibis expressions for the bounds of one relation, literal or joined."""

    as_of: date
    zones: dict[str, ZoneBounds]
    rel: Any = None
    single: ZoneBounds | None = None
    n_transitions: int = 0

    def at(self, day: date) -> Any:
        if self.single is not None:
            return ibis.literal(self.single.instants[day], type="timestamp")
        return self.rel[f"b_{day:%Y%m%d}"]

    def offset(self) -> Any:
        if self.single is not None:
            z = self.single
            if not z.transitions:
                return ibis.literal(z.offsets[0], type="int64")
            branches = [
                (self.rel.ts < ibis.literal(t, type="timestamp"), o)
                for t, o in zip(z.transitions, z.offsets, strict=False)
            ]
            return ibis.cases(*branches, else_=z.offsets[-1])
        if not self.n_transitions:
            return self.rel.off_0
        branches = [
            (self.rel.ts < self.rel[f"tr_{i}"], self.rel[f"off_{i - 1}"])
            for i in range(1, self.n_transitions + 1)
        ]
        return ibis.cases(*branches, else_=self.rel[f"off_{self.n_transitions}"])

    def local_date(self) -> Any:
        """The event's calendar date in its account's time zone."""
        if self.single is not None and not self.single.transitions:
            if self.single.offsets[0] == 0:
                return self.rel.ts.date()
            return (self.rel.ts + ibis.interval(seconds=self.single.offsets[0])).date()
        return (self.rel.ts + self.offset().as_interval("s")).date()


def _bounds_table(
    zones: dict[str, ZoneBounds], raw_names: dict[str, str]
) -> pd.DataFrame:
    """One row per time zone as written on accounts (None = the default)."""
    n = max(len(z.transitions) for z in zones.values())
    rows = []
    for raw, name in raw_names.items():
        z = zones[name]
        row: dict[str, Any] = {"tz": raw}
        row.update({f"b_{d:%Y%m%d}": t for d, t in z.instants.items()})
        transitions = [*z.transitions, *[_FAR_FUTURE] * (n - len(z.transitions))]
        offsets = [*z.offsets, *[z.offsets[-1]] * (n - len(z.transitions))]
        row.update({f"tr_{i + 1}": t for i, t in enumerate(transitions)})
        row.update({f"off_{i}": o for i, o in enumerate(offsets)})
        rows.append(row)
    return pd.DataFrame(rows)


def _events_in(
    con: Any,
    zones: dict[str, ZoneBounds],
    raw_names: dict[str, str],
    default_tz: str,
    first: date,
    as_of: date,
) -> _Bounds:
    """Events in [00:00 local of ``first``, 00:00 local of ``as_of``), with bounds."""
    ev = con.table("events")
    lo = min(z.instants[first] for z in zones.values())
    hi = max(z.instants[as_of] for z in zones.values())
    ev = ev.filter(
        ev.ts >= ibis.literal(lo, type="timestamp"),
        ev.ts < ibis.literal(hi, type="timestamp"),
    )
    if len(zones) == 1 and len(raw_names) == 1:
        # Every scored account shares one zone: bounds are literals, no join needed.
        bounds = _Bounds(as_of, zones, rel=ev, single=next(iter(zones.values())))
        return bounds
    acc = con.table("accounts")
    acc = acc.select("account_id", tz=acc.timezone.fill_null(default_tz))
    table = _bounds_table(zones, raw_names)
    b = ibis.memtable(table)
    rel = ev.join(acc, "account_id").join(b, "tz")
    rel = rel.filter(
        rel.ts >= rel[f"b_{first:%Y%m%d}"], rel.ts < rel[f"b_{as_of:%Y%m%d}"]
    )
    n = max(len(z.transitions) for z in zones.values())
    return _Bounds(as_of, zones, rel=rel, n_transitions=n)


@dataclass
class _Aggregates:
    """Named conditional aggregates, shared between measures that need the same one."""

    exprs: dict[str, Any] = field(default_factory=dict)
    keys: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def add(self, key: tuple[Any, ...], build: Any) -> str:
        if key not in self.keys:
            name = f"c{len(self.keys)}"
            self.keys[key] = name
            self.exprs[name] = build()
        return self.keys[key]


def _types(rel: Any, measure: Measure) -> Any:
    types = measure.events or ["*"]
    if "*" in types:
        return ibis.literal(True)
    return rel.event_type.isin(sorted(set(types)))


def _simple(
    aggs: _Aggregates, b: _Bounds, kind: str, types: Any, tkey: Any, lo: date, hi: date
) -> str:
    """One aggregate of ``kind`` over the events of [lo, hi) matching ``types``."""
    rel = b.rel
    cond = types & (rel.ts >= b.at(lo))
    if hi != b.as_of:
        cond = cond & (rel.ts < b.at(hi))
    key = (kind, tkey, lo, hi)
    build = {
        "count": lambda: rel.event_type.count(where=cond),
        "sum": lambda: rel.value.sum(where=cond),
        "mean": lambda: rel.value.mean(where=cond),
        "median": lambda: rel.value.median(where=cond),
        "min": lambda: rel.value.min(where=cond),
        "max": lambda: rel.value.max(where=cond),
        "distinct_users": lambda: rel.user_id.nunique(where=cond),
        "active_days": lambda: b.local_date().nunique(where=cond),
        "last_ts": lambda: rel.ts.max(where=cond),
        "last_value": lambda: rel.value.argmax(
            rel.ts, where=cond & rel.value.notnull()
        ),
        "values": lambda: rel.value.count(where=cond),
        "promoters": lambda: rel.value.count(where=cond & (rel.value >= 9)),
        "detractors": lambda: rel.value.count(where=cond & (rel.value <= 6)),
    }[kind]
    return aggs.add(key, build)


@dataclass
class EventResult:
    """Raw per-account aggregates and, per measure, the columns that hold its parts."""

    raw: pd.DataFrame
    parts: dict[str, dict[str, str]]
    users: dict[Duration, str]
    periods: dict[str, pd.DataFrame]


def aggregate_events(
    con: Any,
    measures: list[Measure],
    users: set[Duration],
    as_of: date,
    zones: dict[str, ZoneBounds],
    raw_names: dict[str, str],
    default_tz: str,
) -> EventResult:
    """All event measures for every account with events, in one aggregate query."""
    plain = [m for m in measures if m.per_period is None]
    parts: dict[str, dict[str, str]] = {}
    users_cols: dict[Duration, str] = {}
    raw = pd.DataFrame()
    days = needed_days(plain, as_of, users=users)
    if plain or users:
        b = _events_in(con, zones, raw_names, default_tz, min(days), as_of)
        aggs = _Aggregates()
        for m in plain:
            parts[m.name] = _measure_parts(aggs, b, m)
        for w in users:
            start = start_of(w, as_of)
            users_cols[w] = _simple(
                aggs, b, "distinct_users", ibis.literal(True), "*", start, as_of
            )
        query = b.rel.group_by("account_id").aggregate(**aggs.exprs)
        log.debug("event aggregate SQL:\n%s", ibis.to_sql(query))
        raw = query.to_pandas().set_index("account_id")
    periods = _period_aggregates(
        con, [m for m in measures if m.per_period], as_of, zones, raw_names, default_tz
    )
    return EventResult(raw, parts, users_cols, periods)


def _measure_parts(aggs: _Aggregates, b: _Bounds, m: Measure) -> dict[str, str]:
    w = window_of(m)
    start, end = start_of(w, b.as_of), b.as_of
    types, tkey = _types(b.rel, m), tuple(sorted(set(m.events or ["*"])))
    agg = m.aggregation
    if agg == "change":
        before = start_of(w, b.as_of, 2)
        return {
            "now": _simple(aggs, b, m.change_of, types, tkey, start, end),
            "before": _simple(aggs, b, m.change_of, types, tkey, before, start),
        }
    if agg == "days_since_last":
        return {"last_ts": _simple(aggs, b, "last_ts", types, tkey, start, end)}
    if agg == "nps":
        return {
            k: _simple(aggs, b, k, types, tkey, start, end)
            for k in ("values", "promoters", "detractors")
        }
    return {"value": _simple(aggs, b, agg, types, tkey, start, end)}


def _period_aggregates(
    con: Any,
    measures: list[Measure],
    as_of: date,
    zones: dict[str, ZoneBounds],
    raw_names: dict[str, str],
    default_tz: str,
) -> dict[str, pd.DataFrame]:
    """Per-period measures: one grouped aggregate by account, period spec and period."""
    if not measures:
        return {}
    specs: list[tuple[str, str]] = sorted(
        {(m.window, m.per_period.period) for m in measures if m.per_period}
    )
    days = needed_days(measures, as_of, users=set())
    b = _events_in(con, zones, raw_names, default_tz, min(days), as_of)
    rel = b.rel

    def index_of(window: str, period_text: str) -> Any:
        w, p = Duration.parse(window), Duration.parse(period_text)
        if p.is_calendar:
            k = _calendar_count(w, p)
            branches = [
                (rel.ts >= b.at(start_of(p, as_of, i + 1)), i) for i in range(k)
            ]
            return ibis.cases(*branches, else_=ibis.null("int64"))
        # Whole local days before the as-of date, so periods end on local midnights.
        step = int(p.approx_days())
        back = ibis.literal(as_of).delta(b.local_date(), unit="day")
        idx = (back - 1) // step
        return ibis.ifelse(rel.ts >= b.at(start_of(w, as_of)), idx, ibis.null("int64"))

    if len(specs) == 1:
        rel = rel.mutate(spec=ibis.literal(0, type="int64"), idx=index_of(*specs[0]))
    else:
        rel = rel.cross_join(ibis.memtable({"spec": list(range(len(specs)))}))
        b.rel = rel
        branches = [(rel.spec == i, index_of(*s)) for i, s in enumerate(specs)]
        rel = rel.mutate(idx=ibis.cases(*branches, else_=ibis.null("int64")))
    rel = rel.filter(rel.idx.notnull())
    b.rel = rel
    aggs: dict[str, Any] = {}
    for m in measures:
        assert m.per_period is not None
        cond = _types(rel, m) & (
            rel.spec == specs.index((m.window, m.per_period.period))
        )
        aggs[m.name] = {
            "count": lambda c=cond: rel.event_type.count(where=c),
            "sum": lambda c=cond: rel.value.sum(where=c),
            "distinct_users": lambda c=cond: rel.user_id.nunique(where=c),
            "active_days": lambda c=cond: b.local_date().nunique(where=c),
        }[m.aggregation]()
    query = rel.group_by(["account_id", "spec", "idx"]).aggregate(**aggs)
    log.debug("per-period aggregate SQL:\n%s", ibis.to_sql(query))
    grouped = query.to_pandas()
    out: dict[str, pd.DataFrame] = {}
    for m in measures:
        assert m.per_period is not None
        k = period_count(m) or 0
        spec = specs.index((m.window, m.per_period.period))
        rows = grouped[grouped["spec"] == spec]
        table = rows.pivot_table(
            index="account_id",
            columns="idx",
            values=m.name,
            aggfunc="sum",
            fill_value=0,
        )
        out[m.name] = table.reindex(columns=range(k), fill_value=0).astype(float)
    return out


def _calendar_count(w: Duration, p: Duration) -> int:
    months = {"mo": 1, "y": 12}
    return (w.n * months[w.unit]) // (p.n * months[p.unit])


def period_statistic(table: pd.DataFrame, index: pd.Index, statistic: str) -> pd.Series:
    """The statistic over k periods per account; periods without events count as 0."""
    full = table.reindex(index, fill_value=0.0).fillna(0.0)
    if full.shape[1] == 0:
        return pd.Series(np.nan, index=index)
    return getattr(full, statistic)(axis=1).astype(float)
