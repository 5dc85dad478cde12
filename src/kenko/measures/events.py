"""Event measures: one aggregate query over events, one more for per-period measures.

Each measure becomes a few conditional aggregates (``count(where=...)``) over the events
of its window; identical aggregates are shared between measures. Bounds are local
midnights turned into UTC instants in Python (``windows.py``): literals when every
scored account shares one time zone, else a small table joined on the time zone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import numpy as np
import pandas as pd

from kenko.durations import Duration
from kenko.measures.windows import ZoneBounds, start_of, zone_bounds
from kenko.scorecard.model import Measure

log = logging.getLogger(__name__)

_FAR_FUTURE = datetime(2999, 1, 1)
_BUCKET = pd.Timedelta(days=7)  # width of the join buckets of many-date queries


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


@dataclass(frozen=True)
class Edge:
    """A window bound relative to the as-of date: ``times`` x ``window`` before it.

    Edges name bounds independently of any one date, so a query over many as-of dates
    can hold each bound as a column of a joined table.
    """

    window: Duration | None = None  # None: the as-of date itself
    times: int = 0

    def day(self, as_of: date) -> date:
        if self.window is None or self.times == 0:
            return as_of
        return start_of(self.window, as_of, self.times)

    @property
    def column(self) -> str:
        if self.window is None or self.times == 0:
            return "b_as_of"
        return f"b_{self.window}_{self.times}"


AS_OF = Edge()


def edge(window: Duration, times: int = 1) -> Edge:
    """The bound ``times`` x ``window`` before the as-of date."""
    return AS_OF if times == 0 else Edge(window, times)


def needed_edges(measures: list[Measure], *, users: set[Duration]) -> set[Edge]:
    """Every bound a window of these measures starts or ends on, the as-of included."""
    edges = {AS_OF}
    for w in users:
        edges.add(edge(w))
    for m in measures:
        w = window_of(m)
        edges.add(edge(w))
        if m.aggregation == "change":
            edges.add(edge(w, 2))
        if m.per_period is not None:
            period = Duration.parse(m.per_period.period)
            k = period_count(m) or 0
            edges.update(edge(period, i) for i in range(1, k + 1))
    return edges


def needed_days(
    measures: list[Measure], as_of: date, *, users: set[Duration]
) -> set[date]:
    """Every local date whose midnight bounds a window, including ``as_of`` itself."""
    return {e.day(as_of) for e in needed_edges(measures, users=users)}


@dataclass
class _Bounds:
    """Ibis expressions for the bounds of one relation, literal or joined."""

    as_of: date
    zones: dict[str, ZoneBounds]
    rel: Any = None
    single: ZoneBounds | None = None
    n_transitions: int = 0
    # Many as-of dates: one row per (account, as-of), each bound in its Edge's column.
    many: bool = False
    fixed_offset: int | None = None  # many dates, every account in one fixed offset

    def key(self, bound: Edge) -> Any:
        """What identifies a bound: its date for one as-of date, else the edge."""
        return bound if self.many else bound.day(self.as_of)

    def at(self, bound: date | Edge) -> Any:
        if self.many:
            assert isinstance(bound, Edge)
            return self.rel[bound.column]
        day = bound.day(self.as_of) if isinstance(bound, Edge) else bound
        if self.single is not None:
            return ibis.literal(self.single.instants[day], type="timestamp")
        return self.rel[f"b_{day:%Y%m%d}"]

    def offset(self) -> Any:
        if self.fixed_offset is not None:
            return ibis.literal(self.fixed_offset, type="int64")
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
        if self.fixed_offset == 0:
            return self.rel.ts.date()
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
    aggs: _Aggregates,
    b: _Bounds | _Segments,
    kind: str,
    types: Any,
    tkey: Any,
    lo: Edge,
    hi: Edge,
) -> str:
    """One aggregate of ``kind`` over the events of [lo, hi) matching ``types``."""
    if isinstance(b, _Segments):
        return b.window(kind, types, tkey, lo, hi)
    rel = b.rel
    cond = types & (rel.ts >= b.at(lo))
    if hi != AS_OF:
        cond = cond & (rel.ts < b.at(hi))
    key = (kind, tkey, b.key(lo), b.key(hi))
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
    # Many as-of dates: raw is indexed by (account_id, as_of) and each per-period
    # measure's periods (most recent first) are columns of raw.
    period_parts: dict[str, list[str]] = field(default_factory=dict)

    def on(self, as_of: date) -> EventResult:
        """The result of one as-of date out of a many-date result."""
        raw = pd.DataFrame(columns=self.raw.columns)
        if len(self.raw):
            dates = self.raw.index.get_level_values("as_of")
            raw = self.raw[dates == pd.Timestamp(as_of)].droplevel("as_of")
        periods = {
            name: raw.reindex(columns=cols).set_axis(range(len(cols)), axis=1)
            for name, cols in self.period_parts.items()
        }
        return EventResult(raw, self.parts, self.users, periods)


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
            users_cols[w] = _simple(
                aggs, b, "distinct_users", ibis.literal(True), "*", edge(w), AS_OF
            )
        query = b.rel.group_by("account_id").aggregate(**aggs.exprs)
        log.debug("event aggregate SQL:\n%s", ibis.to_sql(query))
        raw = query.to_pandas().set_index("account_id")
    periods = _period_aggregates(
        con, [m for m in measures if m.per_period], as_of, zones, raw_names, default_tz
    )
    return EventResult(raw, parts, users_cols, periods)


def aggregate_events_many(
    con: Any,
    measures: list[Measure],
    users: set[Duration],
    bounds: pd.DataFrame,
    n_transitions: int,
    fixed_offset: int | None,
) -> EventResult:
    """Event measures for many (account, as-of) rows in one aggregate query.

    ``bounds`` has one row per account and as-of date: ``account_id``, ``as_of``,
    ``b_lo`` (the earliest bound) and a column per Edge, plus ``tr_i`` / ``off_i``
    (the zone's UTC offset changes). Events are range-joined onto it, so each event
    meets only the rows whose windows hold it. Per-period measures become one
    conditional aggregate per period.
    """
    events = con.table("events")
    lo, hi = bounds["b_lo"].min(), bounds["b_as_of"].max()
    events = events.filter(
        events.ts >= ibis.literal(lo.to_pydatetime(), type="timestamp"),
        events.ts < ibis.literal(hi.to_pydatetime(), type="timestamp"),
    )
    # Each row repeated per week bucket its windows touch: events meet (hash join on
    # account and bucket) only the few rows whose windows may hold them.
    epoch = pd.Timestamp("1970-01-01")
    first = (bounds["b_lo"] - epoch) // _BUCKET
    last = (bounds["b_as_of"] - pd.Timedelta(microseconds=1) - epoch) // _BUCKET
    rows = bounds.loc[bounds.index.repeat(last - first + 1)].copy()
    rows["b_bucket"] = first.loc[rows.index] + rows.groupby(level=0).cumcount()
    rows = rows.rename(columns={"account_id": "b_account"}).reset_index(drop=True)
    table = ibis.memtable(rows)
    seconds = int(_BUCKET.total_seconds())
    events = events.mutate(bucket=events.ts.epoch_seconds() // seconds)
    rel = events.join(
        table,
        [
            events.account_id == table.b_account,
            events.bucket == table.b_bucket,
            events.ts >= table.b_lo,
            events.ts < table.b_as_of,
        ],
    )
    b = _Bounds(
        date.min,
        {},
        rel=rel,
        n_transitions=n_transitions,
        many=True,
        fixed_offset=fixed_offset,
    )
    aggs = _Aggregates()
    parts, period_parts, users_cols = _many_parts(aggs, b, measures, users)
    query = rel.group_by(["account_id", "as_of"]).aggregate(**aggs.exprs)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("many-date event aggregate SQL:\n%s", ibis.to_sql(query))
    raw = query.to_pandas()
    raw["as_of"] = pd.to_datetime(raw["as_of"])
    raw = raw.set_index(["account_id", "as_of"])
    periods = {
        name: raw.reindex(columns=cols).set_axis(range(len(cols)), axis=1)
        for name, cols in period_parts.items()
    }
    return EventResult(raw, parts, users_cols, periods, period_parts)


# Partial aggregates per (account, segment) of each kind, and how a window combines
# them; the partials of a kind are named by these keys.
_PARTIALS: dict[str, tuple[str, ...]] = {
    "count": ("count",),
    "sum": ("sum",),
    "mean": ("sum", "values"),
    "min": ("min",),
    "max": ("max",),
    "active_days": ("active_days",),
    "last_ts": ("last_ts",),
    "last_value": ("last_value", "last_value_ts"),
    "values": ("values",),
    "promoters": ("promoters",),
    "detractors": ("detractors",),
}
DECOMPOSABLE = frozenset(_PARTIALS) | {"distinct_users"}


@dataclass
class _Segments:
    """Windows over many as-of dates as runs of segments between bound dates.

    ``rel`` holds the events with ``day`` (local date) and ``seg`` (segment index);
    ``window`` registers an aggregate over the segments of [lo, hi) of each row and
    returns its column name, and ``query`` builds the two grouped queries.
    """

    rel: Any
    partials: dict[tuple[str, Any], tuple[str, Any]] = field(default_factory=dict)
    user_flags: dict[Any, tuple[str, Any]] = field(default_factory=dict)
    windows: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def _partial(self, kind: str, tkey: Any, types: Any) -> str:
        if (kind, tkey) not in self.partials:
            rel = self.rel
            value = rel.value.notnull()
            build = {
                "count": lambda: rel.event_type.count(where=types),
                "sum": lambda: rel.value.sum(where=types),
                "min": lambda: rel.value.min(where=types),
                "max": lambda: rel.value.max(where=types),
                "active_days": lambda: rel.day.nunique(where=types),
                "last_ts": lambda: rel.ts.max(where=types),
                "last_value": lambda: rel.value.argmax(rel.ts, where=types & value),
                "last_value_ts": lambda: rel.ts.max(where=types & value),
                "values": lambda: rel.value.count(where=types),
                "promoters": lambda: rel.value.count(where=types & (rel.value >= 9)),
                "detractors": lambda: rel.value.count(where=types & (rel.value <= 6)),
            }[kind]
            self.partials[(kind, tkey)] = (f"p{len(self.partials)}", build())
        return self.partials[(kind, tkey)][0]

    def window(self, kind: str, types: Any, tkey: Any, lo: Edge, hi: Edge) -> str:
        key = (kind, tkey, lo, hi)
        if key not in self.windows:
            if kind == "distinct_users":
                if "*" not in tkey and tkey not in self.user_flags:
                    flag = ibis.cases((types, 1), else_=0).max()
                    self.user_flags[tkey] = (f"f{len(self.user_flags)}", flag)
            else:
                for part in _PARTIALS[kind]:
                    self._partial(part, tkey, types)
            self.windows[key] = f"s{len(self.windows)}"
        return self.windows[key]

    def query(self, segments: Any) -> list[Any]:
        """The grouped queries (by account_id and as_of) of every registered window;
        ``segments`` has a row per (seg, as_of) of each window's segments and the
        segment index of each bound in its Edge's column."""
        queries = []
        plain = {k: v for k, v in self.windows.items() if k[0] != "distinct_users"}
        users = {k: v for k, v in self.windows.items() if k[0] == "distinct_users"}
        if plain:
            named = {name: expr for name, expr in self.partials.values()}
            part = self.rel.group_by(["account_id", "seg"]).aggregate(**named)
            rel = part.join(segments, "seg")
            exprs = {
                name: _combine(rel, kind, self._names(kind, tkey), _within(rel, lo, hi))
                for (kind, tkey, lo, hi), name in plain.items()
            }
            queries.append(rel.group_by(["account_id", "as_of"]).aggregate(**exprs))
        if users:
            flags = {name: expr for name, expr in self.user_flags.values()}
            keys = ["account_id", "user_id", "seg"]
            part = self.rel.group_by(keys).aggregate(**flags) if flags else None
            if part is None:
                part = self.rel.select(*keys).distinct()
            rel = part.join(segments, "seg")
            exprs = {}
            for (_, tkey, lo, hi), name in users.items():
                cond = _within(rel, lo, hi)
                if "*" not in tkey:
                    cond = cond & (rel[self.user_flags[tkey][0]] == 1)
                exprs[name] = rel.user_id.nunique(where=cond)
            queries.append(rel.group_by(["account_id", "as_of"]).aggregate(**exprs))
        return queries

    def _names(self, kind: str, tkey: Any) -> list[str]:
        return [self.partials[(part, tkey)][0] for part in _PARTIALS[kind]]


def _within(rel: Any, lo: Edge, hi: Edge) -> Any:
    cond = rel.seg >= rel[lo.column]
    return cond if hi == AS_OF else cond & (rel.seg < rel[hi.column])


def _combine(rel: Any, kind: str, names: list[str], cond: Any) -> Any:
    """A window's aggregate of ``kind`` from the partials of its segments."""
    first = rel[names[0]]
    if kind in ("count", "sum", "active_days", "values", "promoters", "detractors"):
        return first.sum(where=cond)
    if kind == "mean":
        n = rel[names[1]].sum(where=cond)
        return first.sum(where=cond) / ibis.ifelse(n > 0, n, ibis.null("int64"))
    if kind in ("min", "max", "last_ts"):
        return getattr(first, {"last_ts": "max"}.get(kind, kind))(where=cond)
    assert kind == "last_value"
    when = rel[names[1]]
    return first.argmax(when, where=cond & when.notnull())


def aggregate_events_segments(
    con: Any,
    measures: list[Measure],
    users: set[Duration],
    dates: list[date],
    zones: dict[str, str],
    default_tz: str,
) -> EventResult:
    """Event measures for every account on many as-of dates, from partial aggregates.

    Every window bound is the local midnight of a date, so the dates of all bounds of
    all as-of dates cut time into segments and each window is a run of whole
    segments. Events are aggregated once per (account, segment), and per (account,
    user, segment) for distinct users; a window combines the partials of its
    segments (sums of counts, min of minima, ...). The median does not combine: its
    measures go through ``aggregate_events_many``. ``zones`` maps each time zone as
    written on accounts (None: ``default_tz``) to the zone used.
    """
    edges = sorted(needed_edges(measures, users=users), key=lambda e: e.column)
    cuts = sorted({e.day(d) for d in dates for e in edges})
    index = {day: i for i, day in enumerate(cuts)}
    bounds = {
        z: zone_bounds(z, {cuts[0], cuts[-1]}) for z in sorted(set(zones.values()))
    }
    b = _events_in(con, bounds, zones, default_tz, cuts[0], cuts[-1])

    # Each local day of the span in its segment; each as-of date's segments.
    days = pd.date_range(cuts[0], cuts[-1] - timedelta(days=1), freq="D")
    seg_of = np.searchsorted(np.array(cuts, dtype="datetime64[D]"), days, "right") - 1
    day_table = ibis.memtable(
        pd.DataFrame({"day": days.date, "seg": seg_of.astype("int64")}),
        schema={"day": "date", "seg": "int64"},
    )
    rows = []
    for d in dates:
        at = {e.column: index[e.day(d)] for e in edges}
        for seg in range(min(at.values()), index[d]):
            rows.append({"seg": seg, "as_of": pd.Timestamp(d), **at})
    segments = ibis.memtable(pd.DataFrame(rows))
    rel = b.rel.mutate(day=b.local_date())
    rel = rel.join(day_table, "day")
    plan = _Segments(rel)
    parts, period_parts, users_cols = _many_parts(_Aggregates(), plan, measures, users)

    frames = []
    for query in plan.query(segments):
        if log.isEnabledFor(logging.DEBUG):
            log.debug("segment aggregate SQL:\n%s", ibis.to_sql(query))
        got = query.to_pandas()
        got["as_of"] = pd.to_datetime(got["as_of"])
        frames.append(got.set_index(_KEYS))
    raw = pd.concat(frames, axis=1)
    periods = {
        name: raw.reindex(columns=cols).set_axis(range(len(cols)), axis=1)
        for name, cols in period_parts.items()
    }
    return EventResult(raw, parts, users_cols, periods, period_parts)


_KEYS = ["account_id", "as_of"]


def _many_parts(
    aggs: _Aggregates, b: _Bounds | _Segments, measures: list[Measure], users: set[Any]
) -> tuple[dict[str, dict[str, str]], dict[str, list[str]], dict[Duration, str]]:
    """(parts per measure, columns per period of per-period measures, distinct users
    per window): per-period measures become one aggregate per period."""
    parts: dict[str, dict[str, str]] = {}
    period_parts: dict[str, list[str]] = {}
    for m in measures:
        if m.per_period is None:
            parts[m.name] = _measure_parts(aggs, b, m)
            continue
        period = Duration.parse(m.per_period.period)
        types, tkey = _types(b.rel, m), tuple(sorted(set(m.events or ["*"])))
        period_parts[m.name] = [
            _simple(
                aggs,
                b,
                m.aggregation,
                types,
                tkey,
                edge(period, i + 1),
                edge(period, i),
            )
            for i in range(period_count(m) or 0)
        ]
    users_cols = {
        w: _simple(aggs, b, "distinct_users", ibis.literal(True), "*", edge(w), AS_OF)
        for w in sorted(users)
    }
    return parts, period_parts, users_cols


def _measure_parts(
    aggs: _Aggregates, b: _Bounds | _Segments, m: Measure
) -> dict[str, str]:
    w = window_of(m)
    start, end = edge(w), AS_OF
    types, tkey = _types(b.rel, m), tuple(sorted(set(m.events or ["*"])))
    agg = m.aggregation
    if agg == "change":
        before = edge(w, 2)
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
