"""Outcomes read from subscriptions: churn, renewal and MRR change after an as-of date.

An account's *spell* is a run of line items with no break longer than the churn gap
(``settings.validation.churn_gap``): a line item that restarts within the gap of the
last end is a late renewal, not churn. A spell that ends, unless the line items ending
on its last day completed a fixed term, is churn, booked on that (exclusive) end date.

The data stops at ``data_end``: line items ending on or after it were still running,
and an outcome horizon that runs past it is censored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import ibis
import numpy as np
import pandas as pd

from kenko.durations import Duration, add_months
from kenko.errors import DataError
from kenko.settings import Settings
from kenko.store import Store

log = logging.getLogger(__name__)

# Stands in for "no end" so that open line items sort and compare after every date.
OPEN_END = date(9000, 1, 1)


@dataclass
class Outcomes:
    """Labels of the accounts active at each as-of date, and those left censored."""

    labels: pd.DataFrame
    censored: pd.DataFrame
    data_end: date
    horizon: Duration


def renewal_dates(start: date, billing_months: int | None, until: date) -> list[date]:
    """Renewal dates start + n billing periods (n ≥ 1) up to ``until`` inclusive.

    Each date steps from the original start and clamps to the month's end, so a
    monthly line item from 2024-01-31 renews on 02-29, 03-31, 04-30 (chaining "+1
    month" would drift to the 29th). One-time items (0 or no term) never renew.
    """
    if not billing_months or billing_months <= 0:
        return []
    out: list[date] = []
    n = 1
    while (day := add_months(start, n * billing_months)) <= until:
        out.append(day)
        n += 1
    return out


def next_renewal(
    start: date, billing_months: int | None, end: date | None, after: date
) -> date | None:
    """The first renewal of a line item strictly after ``after``: a billing period
    boundary from its start, or its end when that comes first."""
    months = billing_months or 0
    candidate: date | None = None
    if months > 0:
        elapsed = (after.year - start.year) * 12 + after.month - start.month
        n = max(1, elapsed // months)
        while (day := add_months(start, n * months)) <= after:
            n += 1
        candidate = day
    if end is not None and end < OPEN_END and (candidate is None or end < candidate):
        candidate = end
    return candidate


def next_renewals(
    start: pd.Series, billing_months: pd.Series, end: pd.Series, after: pd.Series
) -> pd.Series:
    """``next_renewal`` for many line items at once (datetime64, NaT for none)."""
    s = pd.to_datetime(start)
    a = pd.to_datetime(after)
    months = pd.to_numeric(billing_months, errors="coerce").fillna(0).astype(int)
    months = months.to_numpy()
    recurring = months > 0
    step = np.where(recurring, months, 1)
    elapsed = ((a.dt.year - s.dt.year) * 12 + a.dt.month - s.dt.month).to_numpy()
    n = np.maximum(1, elapsed // step)
    candidate = _add_months(s, n * step)
    # Stepping from the original start: at most a couple of periods to go.
    while (late := recurring & (candidate <= a.to_numpy())).any():
        n = np.where(late, n + 1, n)
        candidate = _add_months(s, n * step)
    out = pd.Series(np.where(recurring, candidate, np.datetime64("NaT")), index=s.index)
    out = pd.to_datetime(out)
    e = pd.to_datetime(end)
    ends = e.notna() & (e < pd.Timestamp(OPEN_END)) & (out.isna() | (e < out))
    return out.where(~ends, e)


def _add_months(start: pd.Series, months: np.ndarray) -> np.ndarray:
    """start + months calendar months, the day clamped to the month's end."""
    index = (start.dt.year.to_numpy() - 1970) * 12 + start.dt.month.to_numpy() - 1
    first = (index + months).astype("datetime64[M]")
    days_in_month = (first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")
    day = np.minimum(start.dt.day.to_numpy(), days_in_month.astype(int))
    return first.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")


def data_end(store: Store, settings: Settings) -> date:
    """The day the data stops: ``settings.validation.data_end``, or else the latest
    start date in the subscriptions (the last day a renewal could be seen; line items
    ending on or after it were still running)."""
    if settings.validation.data_end is not None:
        return settings.validation.data_end
    subs = store.ibis().table("subscriptions")
    latest = subs.start_date.max().to_pandas()
    if latest is None or pd.isna(latest):
        raise DataError(
            "the store holds no subscriptions, so outcomes cannot be read",
            fix="load subscription files first (kenko load subscriptions.csv)",
        )
    return pd.Timestamp(latest).date()


def line_items(store: Store, end: date) -> Any:
    """Subscriptions with ``end_x``: the end date, or OPEN_END when the line item is
    open or still running at ``end``."""
    subs = store.ibis().table("subscriptions")
    still_running = subs.end_date.isnull() | (subs.end_date >= ibis.literal(end))
    end_x = ibis.cases((still_running, ibis.literal(OPEN_END)), else_=subs.end_date)
    return subs.mutate(end_x=end_x)


def as_int(condition: Any) -> Any:
    """1 where ``condition`` holds, else 0 (PostgreSQL casts no boolean to integer)."""
    return ibis.cases((condition, 1), else_=0)


def account_spells(store: Store, settings: Settings, end: date) -> Any:
    """One row per account spell: account_id, spell_start, spell_end (OPEN_END when
    it runs on), churn (bool) and involuntary (bool) for a spell that ended."""
    items = line_items(store, end)
    gap = settings.validation.gap
    step = (
        ibis.interval(months=gap.n * (12 if gap.unit == "y" else 1))
        if gap.is_calendar
        else ibis.interval(days=gap.n * (7 if gap.unit == "w" else 1))
    )
    order = [items.start_date, items.end_x, items.product, items.subscription_id]
    before = ibis.window(group_by=items.account_id, order_by=order, rows=(None, -1))
    running = ibis.window(group_by=items.account_id, order_by=order, rows=(None, 0))
    last_end = items.end_x.max().over(before)
    # A start later than the gap after every earlier end opens a new spell.
    opens = last_end.isnull() | (items.start_date > last_end + step)
    items = items.mutate(opens=as_int(opens))
    items = items.mutate(spell=items.opens.sum().over(running))
    items = items.mutate(
        spell_end=items.end_x.max().over(
            ibis.window(group_by=[items.account_id, items.spell])
        )
    )
    ending = items.end_x == items.spell_end
    completed = items.end_reason.isin(list(settings.validation.completed_reasons))
    involuntary = items.end_reason.isin(list(settings.validation.involuntary_reasons))
    spells = items.group_by(["account_id", "spell"]).aggregate(
        spell_start=items.start_date.min(),
        spell_end=items.spell_end.max(),
        n_ending=as_int(ending).sum(),
        n_completed=as_int(ending & completed.fill_null(False)).sum(),
        n_involuntary=as_int(ending & involuntary.fill_null(False)).sum(),
    )
    is_open = spells.spell_end == ibis.literal(OPEN_END)
    return spells.select(
        "account_id",
        "spell_start",
        "spell_end",
        churn=~is_open & (spells.n_completed < spells.n_ending),
        involuntary=~is_open & (spells.n_involuntary > 0),
    )


def label_outcomes(
    store: Store,
    as_of_dates: Sequence[date],
    horizon: str | Duration,
    settings: Settings,
) -> Outcomes:
    """Churn, renewal and MRR after each as-of date for the accounts active on it."""
    horizon = Duration.parse(horizon)
    end = data_end(store, settings)
    dates = sorted(set(as_of_dates))
    if not dates:
        raise ValueError("label_outcomes needs at least one as-of date")

    # Line items active at each as-of date, and MRR at its horizon's end.
    frame = ibis.memtable(
        pd.DataFrame(
            {
                "as_of": pd.to_datetime(dates).date,
                "horizon_end": [horizon.after(d) for d in dates],
            }
        ),
        schema={"as_of": "date", "horizon_end": "date"},
    )
    items = line_items(store, end)
    active = items.join(
        frame,
        [items.start_date <= frame.as_of, items.end_x > frame.as_of],
    ).select(
        "account_id",
        "as_of",
        "horizon_end",
        "start_date",
        "end_x",
        "billing_months",
        "mrr",
    )
    later = items.join(
        frame,
        [items.start_date <= frame.horizon_end, items.end_x > frame.horizon_end],
    )
    mrr_end = later.group_by(["account_id", "as_of"]).aggregate(mrr_end=later.mrr.sum())
    spells = account_spells(store, settings, end)
    within = spells.join(
        frame, [spells.spell_start <= frame.as_of, spells.spell_end > frame.as_of]
    ).select("account_id", "as_of", "spell_end", "churn", "involuntary")
    item_rows = _dates_to_py(active.to_pandas(), ["as_of", "horizon_end", "start_date"])
    ends = _dates_to_py(within.to_pandas(), ["as_of", "spell_end"])
    mrr_later = _dates_to_py(mrr_end.to_pandas(), ["as_of"])

    # One row per account and as-of date; censored when its horizon passes data_end.
    item_rows["end_x"] = pd.to_datetime(item_rows["end_x"]).dt.date
    item_rows["renewal"] = next_renewals(
        item_rows["start_date"],
        item_rows["billing_months"],
        item_rows["end_x"],
        item_rows["as_of"],
    )
    accounts = item_rows.groupby(["account_id", "as_of"], as_index=False).agg(
        horizon_end=("horizon_end", "first"),
        mrr_start=("mrr", "sum"),
        next_renewal=("renewal", "min"),
    )
    accounts["next_renewal"] = [
        None if pd.isna(d) else d.date() for d in accounts["next_renewal"]
    ]
    accounts = accounts.merge(ends, on=["account_id", "as_of"], how="left")
    accounts = accounts.merge(mrr_later, on=["account_id", "as_of"], how="left")
    is_censored = accounts["horizon_end"] > end
    censored = accounts.loc[is_censored, ["account_id", "as_of"]].reset_index(drop=True)
    labels = _labels(accounts.loc[~is_censored])
    log.info(
        "labelled %d account-dates over %d as-of dates (horizon %s); %d censored",
        len(labels),
        len(dates),
        horizon,
        len(censored),
    )
    return Outcomes(labels=labels, censored=censored, data_end=end, horizon=horizon)


def _labels(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.sort_values(["as_of", "account_id"]).reset_index(drop=True)
    spell_end = rows["spell_end"]
    churned = rows["churn"].astype(bool) & (spell_end <= rows["horizon_end"])
    renewal = rows["next_renewal"].where(
        rows["next_renewal"].notna() & (rows["next_renewal"] <= rows["horizon_end"])
    )
    renewed = [
        None if pd.isna(r) else bool(e > r)
        for r, e in zip(renewal, spell_end, strict=True)
    ]
    kind = [
        ("involuntary" if inv else "voluntary") if c else None
        for c, inv in zip(churned, rows["involuntary"].astype(bool), strict=True)
    ]
    return pd.DataFrame(
        {
            "account_id": rows["account_id"].astype(str),
            "as_of": rows["as_of"],
            "churned": churned.astype(bool),
            "churn_date": _objects(
                [e if c else None for c, e in zip(churned, spell_end, strict=True)]
            ),
            "churn_kind": _objects(kind),
            "next_renewal": _objects([None if pd.isna(r) else r for r in renewal]),
            "renewed": _objects(renewed),
            "mrr_start": rows["mrr_start"].astype(float),
            # A churned account's later reactivation is a new spell, not this MRR.
            "mrr_end": rows["mrr_end"].fillna(0.0).astype(float).where(~churned, 0.0),
        }
    )


def _objects(values: list[Any]) -> pd.Series:
    """A column that keeps None as None (not NaN) beside dates, text and bools."""
    return pd.Series(values, dtype=object)


def _dates_to_py(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for col in columns:
        frame[col] = pd.to_datetime(frame[col]).dt.date
    return frame


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
