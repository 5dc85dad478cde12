"""Every measure for every account active on the as-of date, in one pass."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ibis
import numpy as np
import pandas as pd

from kenko.durations import Duration
from kenko.errors import ScorecardError
from kenko.measures import events as ev
from kenko.measures import formula
from kenko.measures.check import formula_cycle_members, formula_order
from kenko.measures.windows import ZoneBounds, zone_bounds
from kenko.scorecard.model import Measure
from kenko.settings import Settings
from kenko.store import Store
from kenko.warnings import NotPointInTimeWarning

log = logging.getLogger(__name__)

NOTE_NO_SEATS = "no seat count"
NOTE_NO_USERS = "no active users in the window"
NOTE_BEFORE_DATA = "window starts before the data (first event {day})"


@dataclass
class MeasureFrame:
    """Measures of the accounts active on ``as_of``, indexed by account_id.

    ``values`` holds one float column per measure (NaN = no value) and ``notes`` the
    same shape of text saying why a value is missing. ``accounts`` holds the builtins
    (seats, mrr, products, tenure_days, days_to_renewal, first_start, timezone,
    known_on) and ``attributes`` the account attributes as text.

    A frame of many as-of dates is indexed by (account_id, as_of) instead, each row
    carrying its own date (a Timestamp); ``as_of`` is then the latest of them.
    """

    as_of: date
    values: pd.DataFrame
    notes: pd.DataFrame
    accounts: pd.DataFrame
    attributes: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def account_ids(self) -> list[str]:
        return list(self.values.index)

    @property
    def many(self) -> bool:
        """True when each row carries its own as-of date."""
        return "as_of" in self.values.index.names

    def row_dates(self) -> pd.Series:
        """Each row's as-of date as a Timestamp, indexed like ``values``."""
        index = self.values.index
        if self.many:
            return pd.Series(pd.to_datetime(index.get_level_values("as_of")), index)
        return pd.Series(pd.Timestamp(self.as_of), index=index)

    def note(self, account_id: str, measure: str) -> str | None:
        value = self.notes.at[account_id, measure]
        return value if isinstance(value, str) else None


def compute_measures(
    store: Store, measures: list[Measure], as_of: date, settings: Settings
) -> MeasureFrame:
    """Every measure for every account with a subscription active on ``as_of``."""
    check_measures(measures)
    con = store.ibis()
    accounts = active_accounts(con, as_of, settings)
    attributes, static = account_attributes(con, accounts.index)
    frame = new_frame(as_of, measures, accounts, attributes)

    # Event measures: one aggregate query (plus one for per-period measures).
    event_measures = [m for m in measures if m.source_kind == "events"]
    users = active_user_windows(measures)
    result: ev.EventResult | None = None
    if len(accounts) and (event_measures or users):
        zones, raw_names = _zones(event_measures, users, frame, settings)
        result = ev.aggregate_events(
            con, event_measures, users, as_of, zones, raw_names, settings.timezone
        )
    start = events_start(con, settings) if event_measures else None
    fill_values(frame, measures, result, static, start)
    log.info(
        "computed %d measures for %d accounts as of %s",
        len(measures),
        len(accounts),
        as_of,
    )
    return frame


def new_frame(
    as_of: date,
    measures: list[Measure],
    accounts: pd.DataFrame,
    attributes: pd.DataFrame,
) -> MeasureFrame:
    """An empty frame of ``measures`` for the accounts active on ``as_of``."""
    index = accounts.index
    values = pd.DataFrame(index=index, columns=[m.name for m in measures], dtype=float)
    notes = pd.DataFrame(None, index=index, columns=values.columns, dtype=object)
    return MeasureFrame(as_of, values, notes, accounts, attributes)


def active_user_windows(measures: list[Measure]) -> set[Duration]:
    """Windows whose distinct users some measure divides by."""
    return {
        Duration.parse(m.window) for m in measures if m.normalise == "per_active_user"
    }


def events_start(con: Any, settings: Settings) -> date | None:
    """The first day the event data covers: ``settings.events_start``, else the UTC
    date of the earliest event in the store (None: the store holds no events)."""
    if settings.events_start is not None:
        return settings.events_start
    first = con.table("events").ts.min().to_pandas()
    if first is None or pd.isna(first):
        return None
    return pd.Timestamp(first).date()


def fill_values(
    frame: MeasureFrame,
    measures: list[Measure],
    result: ev.EventResult | None,
    static: pd.DataFrame,
    data_start: date | None = None,
) -> None:
    """Every measure's value and note on ``frame``, from the event aggregates.

    An event measure whose window starts before ``data_start`` has no value: an
    empty window there means no data, not no activity.
    """
    values, notes = frame.values, frame.notes
    accounts, index = frame.accounts, frame.values.index
    if result is not None:
        for m in measures:
            if m.source_kind == "events":
                values[m.name] = _event_value(m, result, frame)
    if data_start is not None:
        _before_data(frame, measures, data_start)

    # Account attributes and subscription fields.
    stale: dict[date, list[str]] = {}
    for m in measures:
        if m.source_kind == "attribute":
            values[m.name] = _attribute_value(m, frame, static, stale)
        elif m.source_kind == "subscription":
            values[m.name] = accounts[m.subscription].astype(float)
    for day, names in sorted(stale.items()):
        message = (
            f"{', '.join(names)}: not point-in-time for {day}; the account export "
            "is newer than the as-of date, so these values were left out"
        )
        frame.warnings.append(message)
        warnings.warn(message, NotPointInTimeWarning, stacklevel=3)

    for m in measures:
        if m.source_kind != "formula":
            values[m.name] = _normalised(m, values[m.name], frame, result)

    # Formulas, each after the formulas it reads.
    reads = {
        m.name: formula.names(m.formula) for m in measures if m.formula is not None
    }
    by_name = {m.name: m for m in measures}
    for name in formula_order(reads):
        m = by_name[name]
        assert m.formula is not None
        inputs = {n: values[n] for n in reads[name] if n in values}
        inputs.update({b: accounts[b].astype(float) for b in formula.BUILTINS})
        value = formula.evaluate(m.formula, inputs, index)
        _note(notes, m.name, value.isna(), "a formula input is missing or divides by 0")
        values[m.name] = _normalised(m, value, frame, result)


def _before_data(
    frame: MeasureFrame, measures: list[Measure], data_start: date
) -> None:
    """No value for event measures on rows whose windows (the previous window of a
    change, every period of a per-period measure) start before ``data_start``."""
    dates = frame.row_dates()
    days = [d.date() for d in dates.unique()]
    text = NOTE_BEFORE_DATA.format(day=data_start.isoformat())
    for m in measures:
        if m.source_kind != "events":
            continue
        edges = ev.needed_edges([m], users=set())
        early = [
            pd.Timestamp(d) for d in days if min(e.day(d) for e in edges) < data_start
        ]
        mask = dates.isin(early)
        if mask.any():
            frame.values.loc[mask, m.name] = np.nan
            frame.notes.loc[mask, m.name] = text


def check_measures(measures: list[Measure]) -> None:
    """Raise ScorecardError unless these measures can be computed together."""
    names = [m.name for m in measures]
    known = set(names) | set(formula.BUILTINS)
    for m in measures:
        if m.per_period is not None and ev.period_count(m) is None:
            raise ScorecardError(
                f"window {m.window} is not a whole number of periods of "
                f"{m.per_period.period}",
                where=f"measure {m.name}.per_period",
                fix="pick a period that divides the window (12w / 1w, 3mo / 1mo)",
            )
        if m.formula is None:
            continue
        try:
            used = formula.names(m.formula)
        except formula.FormulaSyntaxError as exc:
            raise ScorecardError(str(exc), where=f"measure {m.name}.formula") from exc
        for other in sorted(used - known):
            raise ScorecardError(
                f"the formula reads {other!r}, which is not a measure",
                where=f"measure {m.name}.formula",
                fix="use another measure's name or one of "
                + ", ".join(formula.BUILTINS),
            )
    reads = {m.name: formula.names(m.formula) for m in measures if m.formula}
    cycle = formula_cycle_members({k: v & set(names) for k, v in reads.items()})
    if cycle:
        raise ScorecardError(
            "the formula depends on itself",
            where=f"measure {cycle[0]}.formula",
            fix="break the cycle between " + ", ".join(cycle),
        )
    if len(set(names)) != len(names):
        raise ValueError("compute_measures needs distinct measure names")


# -- accounts and subscriptions --


def active_accounts(con: Any, as_of: date, settings: Settings) -> pd.DataFrame:
    """Accounts with a line item active on ``as_of``, with the subscription builtins."""
    subs = con.table("subscriptions")
    subs = subs.filter(subs.start_date <= ibis.literal(as_of))
    query = subs.group_by("account_id").aggregate(
        **_subscription_aggregates(subs, ibis.literal(as_of), settings)
    )
    df = _with_account(con, query).to_pandas().set_index("account_id").sort_index()
    df.index.name = "account_id"
    return _builtins(df, pd.Series(pd.Timestamp(as_of), index=df.index), settings)


def active_accounts_many(
    con: Any, dates: list[date], settings: Settings
) -> pd.DataFrame:
    """``active_accounts`` of every date at once, indexed by (account_id, as_of)."""
    days = ibis.memtable(
        pd.DataFrame({"as_of": pd.to_datetime(pd.Series(dates))})
    ).mutate(as_of=ibis._.as_of.cast("date"))
    subs = con.table("subscriptions")
    rel = subs.join(days, subs.start_date <= days.as_of)
    query = rel.group_by(["account_id", "as_of"]).aggregate(
        **_subscription_aggregates(rel, rel.as_of, settings)
    )
    df = _with_account(con, query).to_pandas()
    df["as_of"] = pd.to_datetime(df["as_of"])
    df = df.set_index(["account_id", "as_of"]).sort_index()
    return _builtins(
        df, pd.Series(df.index.get_level_values("as_of"), df.index), settings
    )


def _subscription_aggregates(subs: Any, day: Any, settings: Settings) -> dict[str, Any]:
    """Builtins over line items started by ``day``; n_active > 0 = active on it."""
    active = subs.end_date.isnull() | (subs.end_date > day)
    seat_units = subs.units.isin(list(settings.seat_units))
    return {
        "n_active": subs.product.count(where=active),
        "mrr": subs.mrr.sum(where=active),
        "products": subs.product.nunique(where=active),
        "seat_quantity": subs.quantity.sum(where=active & seat_units),
        "first_start": subs.start_date.min(),
        "next_end": subs.end_date.min(where=active),
    }


def _with_account(con: Any, query: Any) -> Any:
    query = query.filter(query.n_active > 0)
    acc = con.table("accounts").select("account_id", "seats", "timezone", "known_on")
    return query.left_join(acc, "account_id").select(
        query, acc.seats, acc.timezone, acc.known_on
    )


def _builtins(df: pd.DataFrame, day: pd.Series, settings: Settings) -> pd.DataFrame:
    first = pd.to_datetime(df["first_start"])
    day = pd.to_datetime(day)
    df["tenure_days"] = (day - first).dt.days.astype(float)
    df["days_to_renewal"] = (pd.to_datetime(df["next_end"]) - day).dt.days.astype(float)
    # The accounts export is known from its known_on date; before it, seats come
    # from the line items active then, unless seats are declared static.
    account_seats = df["seats"].astype(float)
    if "seats" not in settings.accounts.static_attributes:
        known = pd.to_datetime(df["known_on"])
        account_seats = account_seats.where(known <= day)
    df["account_seats"] = account_seats
    df["seats"] = account_seats.fillna(df["seat_quantity"].astype(float))
    df["mrr"] = df["mrr"].astype(float)
    df["products"] = df["products"].astype(float)
    df["first_start"] = first.dt.date
    df["known_on"] = pd.to_datetime(df["known_on"]).dt.date
    df["zone"] = [_zone_of(t, settings.timezone) for t in df["timezone"]]
    return df.drop(columns=["n_active", "next_end"])


def account_attributes(con: Any, index: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, static flags) of the account attributes, one column per attribute."""
    attrs = con.table("account_attributes").to_pandas()
    if attrs.empty:
        empty = pd.DataFrame(index=index)
        return empty, empty
    values = attrs.pivot(index="account_id", columns="name", values="value")
    static = attrs.pivot(index="account_id", columns="name", values="static")
    values = values.reindex(index).astype(object)
    values = values.where(values.notna(), None)
    values.columns.name = None
    static.columns.name = None
    return values, static.reindex(index)


def _zone_of(timezone: Any, default: str) -> str:
    if not isinstance(timezone, str) or not timezone:
        return default
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("time zone %r is unknown; using %s", timezone, default)
        return default
    return timezone


def _zones(
    measures: list[Measure],
    users: set[Duration],
    frame: MeasureFrame,
    settings: Settings,
) -> tuple[dict[str, ZoneBounds], dict[str, str]]:
    """Bounds per zone, and zone per time zone as written on accounts."""
    days = ev.needed_days(measures, frame.as_of, users=users)
    raw = frame.accounts["timezone"].where(frame.accounts["timezone"].notna(), None)
    raw_names = {
        (r if isinstance(r, str) else settings.timezone): z
        for r, z in zip(raw, frame.accounts["zone"], strict=True)
    }
    zones = {z: zone_bounds(z, days) for z in sorted(set(raw_names.values()))}
    return zones, raw_names


# -- values --


def _note(notes: pd.DataFrame, name: str, mask: pd.Series, text: str) -> None:
    mask = mask & notes[name].isna()
    notes.loc[mask[mask].index, name] = text


def _event_value(m: Measure, result: ev.EventResult, frame: MeasureFrame) -> pd.Series:
    index = frame.values.index
    if m.per_period is not None:
        table = result.periods[m.name]
        return ev.period_statistic(table, index, m.per_period.statistic)
    raw = result.raw.reindex(index)
    parts = {
        k: raw[c] if c in raw else pd.Series(np.nan, index=index)
        for k, c in result.parts[m.name].items()
    }
    agg = m.aggregation
    zero_when_none = ("count", "distinct_users", "active_days")
    if agg in zero_when_none:
        return parts["value"].fillna(0).astype(float)
    if agg in ("sum", "mean", "median", "min", "max", "last_value"):
        value = parts["value"].astype(float)
        _note(frame.notes, m.name, value.isna(), "no event value in the window")
        return value
    if agg == "nps":
        n = parts["values"].fillna(0).astype(float)
        score = 100 * (parts["promoters"].fillna(0) - parts["detractors"].fillna(0)) / n
        score = score.where(n > 0)
        _note(frame.notes, m.name, n == 0, "no answers in the window")
        return score.astype(float)
    if agg == "change":
        fill = 0 if m.change_of in zero_when_none else np.nan
        now = parts["now"].astype(float).fillna(fill)
        before = parts["before"].astype(float).fillna(fill)
        if m.change_as == "difference":
            value = now - before
        else:
            value = ((now - before) / before).where(before != 0)
        _note(
            frame.notes,
            m.name,
            value.isna(),
            "nothing to compare in the previous window",
        )
        return value.astype(float)
    assert agg == "days_since_last"
    return _days_since_last(m, parts["last_ts"], frame)


def _days_since_last(m: Measure, last_ts: pd.Series, frame: MeasureFrame) -> pd.Series:
    """Whole local days from the last event's local date to the as-of date.

    With no event in the window the value is the window's length in days: the measure
    looks back only that far, so it is capped there.
    """
    as_of = frame.row_dates()
    out = _window_days(m, frame).reindex(last_ts.index)
    stamps = pd.to_datetime(last_ts)
    for tz, ids in frame.accounts.groupby("zone").groups.items():
        local = stamps.reindex(ids).dropna()
        if local.empty:
            continue
        days = local.dt.tz_localize("UTC").dt.tz_convert(str(tz)).dt.tz_localize(None)
        since = as_of.reindex(local.index) - days.dt.normalize()
        out.loc[local.index] = since.dt.days.astype(float)
    return out


def _window_days(m: Measure, frame: MeasureFrame) -> pd.Series:
    """The length in days of ``m``'s window as of each row's date."""
    dates = frame.row_dates()
    days = {d: float(ev.window_days(m, d.date())) for d in dates.unique()}
    return dates.map(days).astype(float)


def _attribute_value(
    m: Measure,
    frame: MeasureFrame,
    static: pd.DataFrame,
    stale: dict[date, list[str]],
) -> pd.Series:
    index = frame.values.index
    name = m.attribute
    assert name is not None
    if name == "seats":
        return frame.accounts["seats"].astype(float)
    if name not in frame.attributes.columns:
        log.warning("measure %s: no account has attribute %r", m.name, name)
        _note(
            frame.notes, m.name, pd.Series(True, index=index), f"no attribute {name!r}"
        )
        return pd.Series(np.nan, index=index)
    text = frame.attributes[name]
    value = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & value.isna()
    if bad.any():
        account = bad[bad].index[0]
        raise ScorecardError(
            f"attribute {name!r} is not a number "
            f"(account {account}: {text[account]!r})",
            where=f"measure {m.name}.attribute",
            fix="score numeric attributes only; "
            "use text attributes in a segment's `when`",
        )
    known_on = pd.Series(frame.accounts["known_on"], index=index)
    not_static = ~static[name].fillna(True).astype(bool)
    dates = frame.row_dates()
    later = not_static & (pd.to_datetime(known_on) > dates)
    later = later & value.notna()
    for account in later[later].index:
        frame.notes.at[account, m.name] = (
            f"not point-in-time (known from {known_on[account].isoformat()})"
        )
    for day in sorted(set(dates[later].dt.date)):
        stale.setdefault(day, []).append(m.name)
    _note(frame.notes, m.name, value.isna() & ~later, "no value")
    return value.where(~later).astype(float)


def _normalised(
    m: Measure, value: pd.Series, frame: MeasureFrame, result: ev.EventResult | None
) -> pd.Series:
    if m.normalise is None:
        return value
    accounts = frame.accounts
    if m.normalise == "per_seat":
        seats = accounts["seats"].astype(float)
        _note(frame.notes, m.name, value.notna() & ~(seats > 0), NOTE_NO_SEATS)
        return value / seats.where(seats > 0)
    if m.normalise == "per_active_user":
        users = pd.Series(0.0, index=value.index)
        if result is not None:
            column = result.users[Duration.parse(m.window)]
            if column in result.raw:
                users = result.raw[column].reindex(value.index).fillna(0).astype(float)
        _note(frame.notes, m.name, value.notna() & (users == 0), NOTE_NO_USERS)
        return value / users.where(users > 0)
    days = _window_days(m, frame)
    tenure = accounts["tenure_days"].astype(float)
    young = tenure < days
    scaled = value * days / np.maximum(tenure, 1.0)
    return value.where(~young, scaled)
