"""Customer KPIs from subscriptions: churn, renewal, GRR / NRR, MRR movements, cohorts.

Conventions: a line item is active on day d when start ≤ d < end (end exclusive, NULL
open); a churn is booked on the end date. An account churns when its spell ends (see
``kenko.validation.outcomes``): a restart within ``validation.churn_gap`` is a late
renewal, and a completed fixed term is not churn. The KPIs read ends as recorded; set
``validation.data_end`` to treat ends on or after it as still running.

Rates are fractions rounded to 4 decimals; a rate with nothing to divide by is NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import ibis
import pandas as pd

from kenko.durations import add_months
from kenko.errors import DataError, KenkoError
from kenko.settings import Settings
from kenko.store import Store
from kenko.validation.outcomes import OPEN_END, account_spells, as_int, line_items

log = logging.getLogger(__name__)

Period = Literal["month", "quarter"]
NO_SNAPSHOT = "no snapshot"  # the --by band group of accounts never scored by then


class KpiError(KenkoError, ValueError):
    """A KPI request kenko cannot answer: a range ending before it starts, ..."""


# -- periods -----------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def period_bounds(start: date, end: date, period: Period) -> list[tuple[date, date]]:
    """[first day, next period's first day) of each period touching start..end
    (inclusive); the first period is snapped to its start."""
    if period not in ("month", "quarter"):
        raise KpiError(
            f"period {period!r} is not 'month' or 'quarter'",
            fix="use month or quarter",
        )
    _check_range(start, end)
    months = 1 if period == "month" else 3
    first = month_start(start)
    if months == 3:
        first = first.replace(month=(first.month - 1) // 3 * 3 + 1)
    out: list[tuple[date, date]] = []
    while first <= end:
        nxt: date = add_months(first, months)
        out.append((first, nxt))
        first = nxt
    return out


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise KpiError(
            f"the range ends ({end}) before it starts ({start})",
            fix="give a start on or before the end",
        )


def _rate(num: Any, den: Any) -> Any:
    """num / den rounded to 4 decimals, NaN where den is 0 (works on columns)."""
    den = pd.Series(den, dtype=float) if not isinstance(den, pd.Series) else den
    num = pd.Series(num, dtype=float) if not isinstance(num, pd.Series) else num
    return (num.astype(float) / den.astype(float).where(den != 0)).round(4)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for col in columns:
        frame[col] = pd.to_datetime(frame[col]).dt.date
    return frame


def _kpi_end(settings: Settings) -> date:
    return settings.validation.data_end or OPEN_END


# -- period KPIs ---------------------------------------------------------------------


def account_periods(
    store: Store, settings: Settings, start: date, end: date, period: Period = "month"
) -> pd.DataFrame:
    """One row per account and period it touches: the facts the period KPIs add up.

    Columns: period, period_end (exclusive), account_id, active_start, new, churned,
    involuntary, completed, renewal_due, cancel_requests, mrr_start (on the first
    day), mrr_end (on the last day).
    """
    bounds = period_bounds(start, end, period)
    frame = ibis.memtable(
        pd.DataFrame(
            {
                "period": [b[0] for b in bounds],
                "period_end": [b[1] for b in bounds],
                "last_day": [b[1] - timedelta(days=1) for b in bounds],
            }
        ),
        schema={"period": "date", "period_end": "date", "last_day": "date"},
    )
    kpi_end = _kpi_end(settings)
    items = line_items(store, kpi_end)
    j = items.join(
        frame,
        [items.start_date < frame.period_end, items.end_x >= frame.period],
    )
    at_start = (j.start_date <= j.period) & (j.end_x > j.period)
    at_end = (j.start_date <= j.last_day) & (j.end_x > j.last_day)
    completed = j.end_reason.isin(list(settings.validation.completed_reasons))
    recurring = j.billing_months.isnull() | (j.billing_months != 0)
    due = (
        (j.end_x >= j.period)
        & (j.end_x < j.period_end)
        & ~completed.fill_null(False)
        & recurring
    )
    asked = (j.canceled_at >= j.period) & (j.canceled_at < j.period_end)
    facts = j.group_by(["account_id", "period", "period_end"]).aggregate(
        n_start=as_int(at_start).sum(),
        n_in=as_int(j.end_x > j.period).sum(),
        n_due=as_int(due).sum(),
        cancel_requests=as_int(asked.fill_null(False)).sum(),
        mrr_start=ibis.cases((at_start, j.mrr), else_=0.0).sum(),
        mrr_end=ibis.cases((at_end, j.mrr), else_=0.0).sum(),
    )
    spells = account_spells(store, settings, kpi_end)
    ended = spells.join(
        frame,
        [spells.spell_end >= frame.period, spells.spell_end < frame.period_end],
    ).select("account_id", "period", "churn", "involuntary")
    ended = ended.group_by(["account_id", "period"]).aggregate(
        n_churn=as_int(ended.churn).sum(),
        n_involuntary=as_int(ended.churn & ended.involuntary).sum(),
        n_completed=as_int(~ended.churn).sum(),
    )
    rows = facts.left_join(ended, ["account_id", "period"]).select(
        facts, ended.n_churn, ended.n_involuntary, ended.n_completed
    )
    df = _dates(rows.to_pandas(), "period", "period_end")

    # Account flags from the counts.
    for col in ("n_churn", "n_involuntary", "n_completed"):
        df[col] = df[col].fillna(0).astype(int)
    churned = df["n_churn"] > 0
    active_start = df["n_start"] > 0
    # A churn booked on the first day belongs to the period, so its account is
    # counted as active at the start (its last day was the day before).
    active_start |= churned & (df["n_in"] == 0)
    out = pd.DataFrame(
        {
            "period": df["period"],
            "period_end": df["period_end"],
            "account_id": df["account_id"].astype(str),
            "active_start": active_start,
            "new": (df["n_in"] > 0) & ~active_start,
            "churned": churned,
            "involuntary": df["n_involuntary"] > 0,
            "completed": (df["n_completed"] > 0) & ~churned,
            "renewal_due": df["n_due"] > 0,
            "cancel_requests": df["cancel_requests"].astype(int),
            "mrr_start": df["mrr_start"].astype(float),
            "mrr_end": df["mrr_end"].astype(float),
        }
    )
    return out.sort_values(["period", "account_id"]).reset_index(drop=True)


def period_kpis(
    store: Store,
    settings: Settings,
    start: date,
    end: date,
    period: Period = "month",
    by: str | None = None,
    *,
    version: str | None = None,
) -> pd.DataFrame:
    """Logo churn, renewal, GRR, NRR and MRR movements per period (and group).

    Logo churn rate = churned in the period / (active at its start + new in it), from
    the period's totals; voluntary and involuntary churn are reported apart. GRR, NRR,
    MRR churn, expansion and contraction compare each account's MRR on the period's
    last day with its MRR on the first, for the accounts active at the start:
    ``cohort_mrr_end`` is those accounts' MRR on the last day, ``mrr_end`` every
    account's (new ones too). ``by``
    is ``"band"`` (each account's band in its latest snapshot at or before the
    period's start, of ``version`` if given) or an account attribute name.
    """
    facts = account_periods(store, settings, start, end, period)
    keys = ["period", "period_end"]
    if by is not None:
        facts["group"] = _groups(store, facts, by, version)
        keys.append("group")

    # MRR movements of the accounts active at the start (new accounts stay out).
    base = facts["active_start"]
    m0 = facts["mrr_start"].where(base, 0.0)
    m1 = facts["mrr_end"].where(base, 0.0)
    facts["churned_mrr"] = m0.where(m1 == 0, 0.0)
    facts["contraction_mrr"] = (m0 - m1).where((m1 > 0) & (m1 < m0), 0.0)
    facts["expansion_mrr"] = (m1 - m0).where(m1 > m0, 0.0).where(m0 > 0, 0.0)
    facts["base_mrr_end"] = m1
    facts["base_mrr_start"] = m0
    facts["all_mrr_end"] = facts["mrr_end"]
    facts["voluntary"] = facts["churned"] & ~facts["involuntary"]
    facts["renewed"] = facts["renewal_due"] & ~facts["churned"]
    sums = {
        "active_start": "sum",
        "new": "sum",
        "churned": "sum",
        "voluntary": "sum",
        "involuntary": "sum",
        "completed": "sum",
        "renewal_due": "sum",
        "renewed": "sum",
        "cancel_requests": "sum",
        "base_mrr_start": "sum",
        "base_mrr_end": "sum",
        "all_mrr_end": "sum",
        "churned_mrr": "sum",
        "contraction_mrr": "sum",
        "expansion_mrr": "sum",
    }
    t = facts.groupby(keys, dropna=False, as_index=False).agg(sums)
    t = t.rename(
        columns={
            "base_mrr_start": "mrr_start",
            "base_mrr_end": "cohort_mrr_end",
            "all_mrr_end": "mrr_end",
            "renewal_due": "renewals_due",
            "churned": "churned",
            "voluntary": "churned_voluntary",
            "involuntary": "churned_involuntary",
        }
    )
    at_risk = t["active_start"] + t["new"]
    lost = t["churned_mrr"] + t["contraction_mrr"]
    t["logo_churn_rate"] = _rate(t["churned"], at_risk)
    t["voluntary_churn_rate"] = _rate(t["churned_voluntary"], at_risk)
    t["involuntary_churn_rate"] = _rate(t["churned_involuntary"], at_risk)
    t["renewal_rate"] = _rate(t["renewed"], t["renewals_due"])
    t["grr"] = _rate(t["mrr_start"] - lost, t["mrr_start"])
    t["nrr"] = _rate(t["cohort_mrr_end"], t["mrr_start"])
    t["mrr_churn_rate"] = _rate(lost, t["mrr_start"])
    t["expansion_rate"] = _rate(t["expansion_mrr"], t["mrr_start"])
    t["contraction_rate"] = _rate(t["contraction_mrr"], t["mrr_start"])
    counts = [c for c in sums if c in t.columns and t[c].dtype == bool]
    for col in counts:
        t[col] = t[col].astype(int)
    log.info("KPIs for %d %s periods from %s to %s", len(t), period, start, end)
    return t.sort_values(keys).reset_index(drop=True)


def _groups(store: Store, facts: pd.DataFrame, by: str, version: str | None) -> Any:
    con = store.ibis()
    if by != "band":
        attrs = con.table("account_attributes")
        found = attrs.filter(attrs.name == by).select("account_id", "value")
        values = found.to_pandas().set_index("account_id")["value"]
        if values.empty:
            raise DataError(
                f"no account has the attribute {by!r} to group by",
                fix="use --by band, or an attribute name from the accounts file",
            )
        return facts["account_id"].map(values)
    snaps = con.table("snapshots")
    if version is not None:
        snaps = snaps.filter(snaps.version == version)
    bands = _dates(
        snaps.select("account_id", "as_of", "band", "computed_at").to_pandas(),
        "as_of",
    )
    band = band_at(
        bands, facts[["account_id", "period"]].rename(columns={"period": "day"})
    )
    return band.where(band.notna(), NO_SNAPSHOT)


def band_at(snapshots: pd.DataFrame, rows: pd.DataFrame) -> pd.Series:
    """Each row's band: the account's latest snapshot at or before ``rows.day``."""
    if snapshots.empty:
        return pd.Series([None] * len(rows), index=rows.index, dtype=object)
    snaps = snapshots.sort_values(["as_of", "computed_at"])
    snaps = snaps.drop_duplicates(["account_id", "as_of"], keep="last")
    left = rows.assign(_i=range(len(rows)), _day=pd.to_datetime(rows["day"]))
    right = snaps.assign(_day=pd.to_datetime(snaps["as_of"]))[
        ["account_id", "_day", "band"]
    ]
    merged = pd.merge_asof(
        left.sort_values("_day"),
        right.sort_values("_day"),
        on="_day",
        by="account_id",
        direction="backward",
    ).sort_values("_i")
    return pd.Series(merged["band"].tolist(), index=rows.index, dtype=object)


# -- daily series and the position on a day ----------------------------------------


def daily_series(store: Store, start: date, end: date) -> pd.DataFrame:
    """Active / new / churned accounts per day, start..end inclusive.

    new[d] are accounts active on d and not on d-1, churned[d] those active on d-1
    and not on d (every departure, booked on the end date), so on every day
    active[d] = active[d-1] + new[d] - churned[d]. Also per day: MRR, committed MRR
    (active line items without a cancellation request on or before d) and
    cancellation requests (line items whose canceled_at is d).
    """
    _check_range(start, end)
    days = [start + timedelta(days=i) for i in range(-1, (end - start).days + 1)]
    spine = ibis.memtable(
        pd.DataFrame(
            {"day": days[1:], "prev": days[:-1]},
        ),
        schema={"day": "date", "prev": "date"},
    )
    full = ibis.memtable(pd.DataFrame({"day": days}), schema={"day": "date"})
    subs = store.ibis().table("subscriptions")
    open_on = subs.end_date.isnull()
    on = full.join(
        subs,
        [subs.start_date <= full.day, open_on | (subs.end_date > full.day)],
    )
    pairs = on.select("account_id", "day").distinct()
    today = pairs.join(spine, pairs.day == spine.day).select(
        pairs.account_id, pairs.day, spine.prev
    )
    before = pairs.select(account_id="account_id", prev_day="day")
    new = today.anti_join(
        before,
        [today.account_id == before.account_id, today.prev == before.prev_day],
    )
    gone = spine.join(pairs, pairs.day == spine.prev).select(
        pairs.account_id, spine.day
    )
    stay = pairs.select(account_id="account_id", same_day="day")
    churned = gone.anti_join(
        stay, [gone.account_id == stay.account_id, gone.day == stay.same_day]
    )
    committed = on.canceled_at.isnull() | (on.canceled_at > on.day)
    money = on.group_by("day").aggregate(
        active=on.account_id.nunique(),
        mrr=on.mrr.sum(),
        committed_mrr=ibis.cases((committed, on.mrr), else_=0.0).sum(),
    )
    asked = subs.filter(
        (subs.canceled_at >= ibis.literal(start))
        & (subs.canceled_at <= ibis.literal(end))
    )
    requests = asked.group_by(day=asked.canceled_at).aggregate(
        cancel_requests=asked.count()
    )
    counts = {
        "new": new.group_by("day").aggregate(new=new.count()),
        "churned": churned.group_by("day").aggregate(churned=churned.count()),
    }

    frame = pd.DataFrame({"date": days[1:]})
    parts = [
        ("active", money.to_pandas()),
        ("new", counts["new"].to_pandas()),
        ("churned", counts["churned"].to_pandas()),
        ("cancel_requests", requests.to_pandas()),
    ]
    for _, part in parts:
        part = _dates(part, "day").rename(columns={"day": "date"})
        frame = frame.merge(part, on="date", how="left")
    for col in ("active", "new", "churned", "cancel_requests"):
        frame[col] = frame[col].fillna(0).astype(int)
    for col in ("mrr", "committed_mrr"):
        frame[col] = frame[col].fillna(0.0).astype(float)
    return frame[
        ["date", "active", "new", "churned", "mrr", "committed_mrr", "cancel_requests"]
    ]


# -- MRR by month --------------------------------------------------------------------


MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


def mrr_movements(store: Store, start: date, end_month: date) -> pd.DataFrame:
    """Month × account MRR with its movement, from start's month to end_month's.

    An account's MRR for a month is that of its line items active on the month's
    last day. Rows run from the account's first month with MRR; after its last such
    month comes one churn row (MRR 0) only if it stopped before end_month, and months
    between a churn and a reactivation carry 0. Open-ended line items never churn,
    and nothing comes after end_month. Columns: month (first day), account_id, mrr,
    change (one of MOVEMENTS or None) and one amount column per movement.
    """
    bounds = period_bounds(start, end_month, "month")
    months = [b[0] for b in bounds]
    # One month before the range tells whether the first month is a change.
    prior: date = add_months(months[0], -1)
    spine_months = [prior, *months]
    spine = ibis.memtable(
        pd.DataFrame(
            {
                "month": spine_months,
                "last_day": [
                    add_months(m, 1) - timedelta(days=1) for m in spine_months
                ],
            }
        ),
        schema={"month": "date", "last_day": "date"},
    )
    subs = store.ibis().table("subscriptions")
    on = spine.join(
        subs,
        [
            subs.start_date <= spine.last_day,
            subs.end_date.isnull() | (subs.end_date > spine.last_day),
        ],
    )
    monthly = on.group_by(["account_id", "month"]).aggregate(mrr=on.mrr.sum())
    firsts = subs.group_by("account_id").aggregate(first_start=subs.start_date.min())
    values = _dates(monthly.to_pandas(), "month")
    first_start = _dates(firsts.to_pandas(), "first_start").set_index("account_id")

    # The dense account × month grid, then each account's rows and movements.
    grid = values.pivot_table(
        index="account_id", columns="month", values="mrr", aggfunc="sum"
    )
    grid = grid.reindex(columns=spine_months).fillna(0.0)
    rows: list[dict[str, Any]] = []
    for account_id, series in grid.iterrows():
        rows.extend(
            _account_months(
                str(account_id), series, first_start.at[account_id, "first_start"]
            )
        )
    out = pd.DataFrame(
        rows, columns=["month", "account_id", "mrr", "change", *MOVEMENTS]
    )
    out["change"] = pd.Series([r["change"] for r in rows], dtype=object)
    return out.sort_values(["month", "account_id"]).reset_index(drop=True)


def _account_months(
    account_id: str, series: pd.Series, first_start: date
) -> list[dict[str, Any]]:
    months = list(series.index)
    live = [m for m in months[1:] if series[m] > 0]
    if not live:
        return []
    last = months.index(live[-1])
    stop = min(last + 1, len(months) - 1)
    out = []
    for i in range(months.index(live[0]), stop + 1):
        prev, cur = float(series.iloc[i - 1]), float(series.iloc[i])
        change = _movement(prev, cur, first_start >= months[i])
        row = {"month": months[i], "account_id": account_id, "mrr": cur}
        row.update(dict.fromkeys(MOVEMENTS, 0.0))
        row["change"] = change
        if change is not None:
            row[change] = abs(cur - prev)
        out.append(row)
    return out


def _movement(prev: float, cur: float, first: bool) -> str | None:
    if prev == 0 and cur > 0:
        return "new" if first else "reactivation"
    if prev > 0 and cur == 0:
        return "churn"
    if cur > prev:
        return "expansion"
    if cur < prev:
        return "contraction"
    return None


# -- cohorts ---------------------------------------------------------------------------


def cohort_retention(
    store: Store,
    start: date,
    end: date,
    *,
    source: Literal["events", "subscriptions"] = "subscriptions",
    as_of: date | None = None,
) -> pd.DataFrame:
    """Retention by start-month cohort: of each cohort, how many are active k months on.

    A cohort is the month of first activity: of an account (first line item) or,
    with ``source="events"``, of a user (account and user id, first event). Cohorts
    from start's month (the range is snapped to the month's start) to end's month;
    activity before ``as_of`` (default: the day after end) only. A month still
    running on the cutoff is flagged incomplete, not reported as final. Columns:
    cohort, months (k), month, size, active, rate, incomplete.
    """
    cutoff = as_of or end + timedelta(days=1)
    last_month = month_start(min(end, cutoff - timedelta(days=1)))
    first_month = month_start(start)
    activity = _activity_months(store, source, first_month, cutoff)
    firsts = activity.group_by("who").aggregate(cohort=activity.month.min())
    joined = activity.join(firsts, "who")
    joined = joined.filter(
        (joined.cohort >= ibis.literal(first_month))
        & (joined.cohort <= ibis.literal(last_month))
        & (joined.month <= ibis.literal(last_month))
    )
    cells = joined.group_by(["cohort", "month"]).aggregate(active=joined.who.nunique())
    counts = _dates(cells.to_pandas(), "cohort", "month")
    found = {(r.cohort, r.month): int(r.active) for r in counts.itertuples()}

    rows = []
    for cohort, _ in period_bounds(first_month, last_month, "month"):
        size = found.get((cohort, cohort), 0)
        if size == 0:
            continue
        for k, (month, nxt) in enumerate(period_bounds(cohort, last_month, "month")):
            active = found.get((cohort, month), 0)
            rows.append(
                {
                    "cohort": cohort,
                    "months": k,
                    "month": month,
                    "size": size,
                    "active": active,
                    "rate": round(active / size, 4),
                    "incomplete": nxt > cutoff,
                }
            )
    columns = ["cohort", "months", "month", "size", "active", "rate", "incomplete"]
    return pd.DataFrame(rows, columns=columns)


def _activity_months(store: Store, source: str, first: date, cutoff: date) -> Any:
    """Distinct (who, month) of activity before the cutoff."""
    con = store.ibis()
    if source == "events":
        ev = con.table("events")
        ev = ev.filter(
            ev.user_id.notnull() & (ev.ts < ibis.literal(pd.Timestamp(cutoff)))
        )
        return ev.select(
            who=ev.account_id.concat("\x1f", ev.user_id),
            month=ev.ts.truncate("M").date(),
        ).distinct()
    if source != "subscriptions":
        raise KpiError(
            f"cohort source {source!r} is not 'events' or 'subscriptions'",
            fix="use events or subscriptions",
        )
    subs = con.table("subscriptions")
    earliest = subs.start_date.min().to_pandas()
    if earliest is None or pd.isna(earliest):
        earliest = first
    earliest = min(month_start(pd.Timestamp(earliest).date()), first)
    bounds = period_bounds(earliest, cutoff - timedelta(days=1), "month")
    spine = ibis.memtable(
        pd.DataFrame({"month": [b[0] for b in bounds], "nxt": [b[1] for b in bounds]}),
        schema={"month": "date", "nxt": "date"},
    )
    start_ok = (subs.start_date < spine.nxt) & (subs.start_date < ibis.literal(cutoff))
    on = spine.join(
        subs, [start_ok, subs.end_date.isnull() | (subs.end_date > spine.month)]
    )
    return on.select(who=on.account_id, month=on.month).distinct()


# -- time to churn ---------------------------------------------------------------------


def churn_durations(tenure: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """Durations in days from start_date to churn_date, censored at the cutoff.

    ``tenure`` has account_id, start_date and churn_date (None: not churned). A churn
    after the cutoff is censored at the cutoff (its duration stops there); a churn on
    the cutoff day is observed. A churn before the start is a data error.
    """
    start = pd.to_datetime(tenure["start_date"])
    churn = pd.to_datetime(tenure["churn_date"])
    bad = churn.notna() & (churn < start)
    if bad.any():
        first = tenure[bad].iloc[0]
        raise DataError(
            f"account {first['account_id']}: churn date {first['churn_date']} is "
            f"before its start {first['start_date']} (negative duration); "
            f"{int(bad.sum())} such row(s)",
            fix="correct the end date of the account's line items",
        )
    day = pd.Timestamp(cutoff)
    observed = churn.notna() & (churn <= day)
    stop = churn.where(observed, day)
    out = tenure[["account_id"]].copy()
    out["start_date"] = start.dt.date
    out["churn_date"] = pd.Series(
        [d.date() if pd.notna(d) else None for d in churn],
        index=tenure.index,
        dtype=object,
    )
    out["duration_days"] = (stop - start).dt.days.astype(int)
    out["observed"] = observed
    return out.reset_index(drop=True)


def time_to_churn(
    store: Store,
    cutoff: date,
    settings: Settings,
    *,
    by: str | None = None,
    version: str | None = None,
) -> pd.DataFrame:
    """Per account spell begun by the cutoff: days from its start to churn, censored
    at the cutoff. A spell that ended without churn (a completed fixed term) is
    censored on its end. ``by`` as in period_kpis, the band taken at or before the
    spell's end or the cutoff, whichever comes first."""
    subs = store.ibis().table("subscriptions")
    backwards = subs.filter(subs.end_date < subs.start_date)
    bad = backwards.select("account_id", "start_date", "end_date").limit(1).to_pandas()
    if not bad.empty:
        row = bad.iloc[0]
        raise DataError(
            f"account {row['account_id']}: a line item ends on {row['end_date']}, "
            f"before its start {row['start_date']} (negative duration)",
            fix="correct the line item's end date and load it again",
        )
    spells = account_spells(store, settings, _kpi_end(settings))
    spells = spells.filter(spells.spell_start <= ibis.literal(cutoff))
    df = _dates(spells.to_pandas(), "spell_start", "spell_end")
    open_ = df["spell_end"] >= OPEN_END
    tenure = pd.DataFrame(
        {
            "account_id": df["account_id"].astype(str),
            "start_date": df["spell_start"],
            "churn_date": [
                e if c and not o else None
                for e, c, o in zip(df["spell_end"], df["churn"], open_, strict=True)
            ],
        }
    )
    out = churn_durations(tenure, cutoff)
    # A spell that ended without churn stops being at risk on its end.
    quiet = (~df["churn"].astype(bool) & ~open_).to_numpy()
    ends = pd.to_datetime(df["spell_end"]).to_numpy()
    for i in range(len(out)):
        if quiet[i] and ends[i] < pd.Timestamp(cutoff):
            out.loc[i, "duration_days"] = (
                pd.Timestamp(ends[i]) - pd.Timestamp(out.loc[i, "start_date"])
            ).days
    if by is not None:
        stop = [min(e, cutoff) if e < OPEN_END else cutoff for e in df["spell_end"]]
        rows = pd.DataFrame({"account_id": out["account_id"], "day": stop})
        out["group"] = _groups_for(store, rows, by, version)
    return out.sort_values(["account_id", "start_date"]).reset_index(drop=True)


def _groups_for(store: Store, rows: pd.DataFrame, by: str, version: str | None) -> Any:
    facts = rows.rename(columns={"day": "period"})
    return _groups(store, facts, by, version)


# -- score gap --------------------------------------------------------------------


@dataclass
class ScoreGap:
    """Why churned accounts scored lower than retained ones on one snapshot."""

    as_of: date
    version: str
    churned: int
    retained: int
    score_gap: float  # mean score of the retained minus that of the churned
    measures: pd.DataFrame  # measure, group, churned, retained, gap, share
    groups: pd.DataFrame  # group, churned, retained, gap, share


def score_gap(
    store: Store, version: str, as_of: date, churned_ids: Sequence[str]
) -> ScoreGap:
    """Split the gap in mean score between churned and retained accounts into
    measures and groups: the mean of points × weight on each side, their
    difference and its share of the whole gap, largest first."""
    con = store.ibis()
    sm = con.table("snapshot_measures")
    sm = sm.filter((sm.version == version) & (sm.as_of == ibis.literal(as_of)))
    churned_set = sorted({str(a) for a in churned_ids})
    side = sm.account_id.isin(churned_set) if churned_set else ibis.literal(False)
    parts = sm.mutate(churned=side, part=sm.points.fill_null(0.0) * sm.weight).select(
        "account_id", "measure", "group_name", "churned", "part"
    )
    frame = parts.to_pandas()
    snaps = con.table("snapshots")
    snaps = snaps.filter(
        (snaps.version == version)
        & (snaps.as_of == ibis.literal(as_of))
        & (snaps.status == "scored")
    )
    scores = snaps.select("account_id", "score").to_pandas()
    if scores.empty:
        raise DataError(
            f"no scored snapshot as of {as_of} for scorecard version {version[:12]}",
            fix="run `kenko score --as-of DATE` for that date first",
        )
    scores["churned"] = scores["account_id"].isin(churned_set)
    means = scores.groupby("churned")["score"].mean()
    gap = float(means.get(False, float("nan")) - means.get(True, float("nan")))
    frame = frame[frame["account_id"].isin(scores["account_id"])]
    measures = _side_means(frame, ["measure", "group_name"], gap)
    by_group = frame.groupby(["account_id", "group_name", "churned"], as_index=False)[
        "part"
    ].sum()
    groups = _side_means(by_group, ["group_name"], gap)
    return ScoreGap(
        as_of=as_of,
        version=version,
        churned=int(scores["churned"].sum()),
        retained=int((~scores["churned"]).sum()),
        score_gap=round(gap, 4),
        measures=measures.rename(columns={"group_name": "group"}),
        groups=groups.rename(columns={"group_name": "group"}),
    )


def _side_means(frame: pd.DataFrame, keys: list[str], gap: float) -> pd.DataFrame:
    table = frame.pivot_table(
        index=keys, columns="churned", values="part", aggfunc="mean"
    )
    table = table.reindex(columns=[True, False])
    out = pd.DataFrame(
        {
            "churned": table[True].round(4),
            "retained": table[False].round(4),
        }
    ).reset_index()
    out["gap"] = (out["retained"] - out["churned"]).round(4)
    out["share"] = (out["gap"] / gap).round(4) if gap else float("nan")
    return out.sort_values("gap", ascending=False).reset_index(drop=True)
