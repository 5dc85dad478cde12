"""A simulated SaaS company: accounts, their hidden health, plans and product usage.

Each account carries a hidden health that drifts month by month. Health drives how many
licensed users are active and how hard they use the product, how often the customer
meets its CSM, what it answers to NPS surveys and how many support tickets it files.
At every renewal date low health raises the chance of cancelling or shrinking the plan,
and high health the chance of buying more, so churn really follows behaviour and a
health score built on the events can find it — noisily, as in life.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from kenko.durations import add_months

SEGMENTS = np.array(["smb", "mid", "enterprise"])
SEGMENT_SHARE = [0.55, 0.30, 0.15]
SEATS_RANGE = {"smb": (3, 12), "mid": (12, 40), "enterprise": (40, 120)}
PLAN = {"smb": "starter", "mid": "growth", "enterprise": "enterprise"}
PRICE_PER_SEAT = {"starter": 25.0, "growth": 40.0, "enterprise": 60.0}  # a month
TERM_MONTHS = {"monthly": 1, "quarterly": 3, "annual": 12}
TERM_DISCOUNT = {"monthly": 1.0, "quarterly": 0.95, "annual": 0.85}
TERM_SHARE = {  # monthly, quarterly, annual
    "smb": [0.80, 0.10, 0.10],
    "mid": [0.35, 0.15, 0.50],
    "enterprise": [0.10, 0.05, 0.85],
}
ADDONS = {  # product -> flat monthly price, share of healthy accounts buying a month
    "analytics_addon": (200.0, 0.025),
    "integrations_pack": (150.0, 0.020),
    "premium_support": (300.0, 0.010),
}
INDUSTRIES = ["software", "retail", "healthcare", "finance", "manufacturing", "media"]
REGIONS = {
    "na": ["America/New_York", "America/Chicago", "America/Los_Angeles"],
    "emea": ["Europe/London", "Europe/Berlin"],
    "apac": ["Asia/Tokyo", "Australia/Sydney"],
    "latam": ["America/Sao_Paulo"],
}
REGION_SHARE = [0.50, 0.30, 0.12, 0.08]
OWNERS = [
    "Ana Ruiz",
    "Ben Okafor",
    "Chloe Martin",
    "Dev Patel",
    "Elif Kaya",
    "Finn Larsen",
    "Grace Liu",
    "Hugo Silva",
]
NAME_HEADS = [
    "Acme", "Blue", "North", "Bright", "Iron", "Silver", "Green", "Nova", "Apex",
    "Summit", "Harbor", "Pine", "Stone", "River", "Cedar", "Lumen", "Vertex", "Orbit",
    "Quartz", "Atlas",
]  # fmt: skip
NAME_TAILS = [
    "Labs", "Logistics", "Health", "Foods", "Systems", "Analytics", "Capital",
    "Retail", "Works", "Energy", "Media", "Robotics", "Partners", "Bio", "Freight",
]  # fmt: skip

# Product events done by users: type -> events per active user per month at health 0.
USER_EVENTS = {
    "login": 3.4,
    "report_viewed": 1.9,
    "dashboard_created": 0.25,
    "export": 0.55,
    "alert_created": 0.2,
}
EVENT_TYPES = [
    *USER_EVENTS,
    "integration_sync",
    "meeting",
    "exec_meeting",
    "nps",
    "ticket",
]
MEETINGS_A_MONTH = {"smb": 0.25, "mid": 0.6, "enterprise": 1.2}
EXEC_MEETINGS_A_MONTH = {"smb": 0.01, "mid": 0.05, "enterprise": 0.15}
MAX_INTEGRATIONS = {"smb": 2, "mid": 4, "enterprise": 6}


# Columns of the generated subscriptions.csv, in file order.
SUBSCRIPTION_COLUMNS = [
    "account_id",
    "subscription_id",
    "product",
    "start_date",
    "end_date",
    "price",
    "quantity",
    "units",
    "billing_term",
    "end_reason",
]


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


@dataclass
class Company:
    """The simulated company as tables, ready to be written out."""

    accounts: pd.DataFrame
    subscriptions: pd.DataFrame
    events: pd.DataFrame
    health: np.ndarray  # accounts × months, the hidden state (for tests and docs)
    churn_date: list[date | None]


def simulate(seed: int, n_accounts: int, start: date, months: int) -> Company:
    """Simulate ``n_accounts`` accounts over ``months`` months from ``start``."""
    rng = np.random.default_rng(seed)
    month_starts = [add_months(start, m) for m in range(months + 1)]
    end = month_starts[-1]

    accounts = _accounts(rng, n_accounts, start, end)
    health = _health(rng, n_accounts, months)
    plans, seats_by_month, churn = _plans(rng, accounts, health, month_starts)
    reasons = [
        str(plans.loc[plans["account_id"] == i, "end_reason"].iloc[-1])
        for i in accounts["account_id"]
    ]
    addons = _addons(rng, accounts, health, month_starts, churn, reasons)
    subscriptions = pd.concat([plans, addons], ignore_index=True)
    subscriptions = subscriptions.sort_values(
        ["account_id", "start_date", "subscription_id"], kind="stable"
    ).reset_index(drop=True)
    events = _events(rng, accounts, health, seats_by_month, month_starts, churn)

    accounts = accounts.drop(columns=["signup"])
    last_seats = plans.groupby("account_id")["quantity"].last()
    accounts["seats"] = accounts["account_id"].map(last_seats).astype(int)
    return Company(accounts, subscriptions, events, health, churn)


def _accounts(rng: np.random.Generator, n: int, start: date, end: date) -> pd.DataFrame:
    width = max(4, len(str(n)))
    ids = [f"A{i + 1:0{width}d}" for i in range(n)]
    names_pool = [f"{h} {t}" for h in NAME_HEADS for t in NAME_TAILS]
    order = rng.permutation(len(names_pool))
    names = [
        names_pool[order[i % len(order)]] + ("" if i < len(order) else f" {i}")
        for i in range(n)
    ]
    segment = rng.choice(SEGMENTS, size=n, p=SEGMENT_SHARE)
    lo = np.array([SEATS_RANGE[s][0] for s in segment])
    hi = np.array([SEATS_RANGE[s][1] for s in segment])
    # Log-uniform seat counts: many small accounts in each segment, a few large.
    seats = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi)))).astype(int)
    region = rng.choice(list(REGIONS), size=n, p=REGION_SHARE)
    timezone = [REGIONS[r][rng.integers(len(REGIONS[r]))] for r in region]

    # Two thirds are customers already when the data starts; the rest sign up later.
    existing = rng.random(n) < 0.65
    span_before = 730
    span_after = (end - start).days - 21
    offset = np.where(
        existing,
        -rng.integers(1, span_before, size=n),
        rng.integers(0, max(span_after, 1), size=n),
    )
    signup = [start + timedelta(days=int(d)) for d in offset]
    return pd.DataFrame(
        {
            "account_id": ids,
            "name": names,
            "owner": rng.choice(OWNERS, size=n),
            "segment": segment,
            "industry": rng.choice(INDUSTRIES, size=n),
            "region": region,
            "seats": seats,
            "timezone": timezone,
            "signup": signup,
        }
    )


def _health(rng: np.random.Generator, n: int, months: int) -> np.ndarray:
    """Hidden health per account and month: a mean-reverting random walk."""
    base = rng.normal(0.0, 0.8, size=n)
    health = np.empty((n, months))
    health[:, 0] = base + rng.normal(0.0, 0.5, size=n)
    for m in range(1, months):
        health[:, m] = (
            0.8 * health[:, m - 1] + 0.2 * base + rng.normal(0.0, 0.35, size=n)
        )
    return health


def _month_index(month_starts: list[date], d: date) -> int:
    """Index of the month holding d (-1 before the data, len-1 after it)."""
    return bisect.bisect_right(month_starts, d) - 1


def _plans(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    health: np.ndarray,
    month_starts: list[date],
) -> tuple[pd.DataFrame, np.ndarray, list[date | None]]:
    """Plan line items, one per billing period, renewed or ended at each renewal."""
    start, end = month_starts[0], month_starts[-1]
    months = len(month_starts) - 1
    n = len(accounts)
    seats_by_month = np.zeros((n, months), dtype=int)
    churn: list[date | None] = [None] * n
    rows: list[tuple[object, ...]] = []

    for a, acct in enumerate(accounts.itertuples(index=False)):
        term = str(rng.choice(list(TERM_MONTHS), p=TERM_SHARE[acct.segment]))
        step = TERM_MONTHS[term]
        product = PLAN[acct.segment]
        price = round(PRICE_PER_SEAT[product] * step * TERM_DISCOUNT[term], 2)
        quantity = int(acct.seats)
        k = 0
        while True:
            period_start = add_months(acct.signup, step * k)
            period_end = add_months(acct.signup, step * (k + 1))
            reason = ""
            next_quantity = quantity
            if start < period_end < end:
                # The decision at renewal follows last month's experience.
                h = health[a, _month_index(month_starts, period_end - timedelta(1))]
                base = {1: -4.3, 3: -3.3, 12: -2.1}[step]
                p_cancel = float(_sigmoid(base - 1.7 * h))
                p_failed = 0.004 * step
                draw = rng.random()
                if draw < p_failed:
                    reason = "payment_failed"
                elif draw < p_failed + p_cancel:
                    reason = "cancelled"
                elif h < -0.5 and rng.random() < 0.35:
                    next_quantity = max(1, round(quantity * rng.uniform(0.6, 0.9)))
                elif h > 0.5 and rng.random() < 0.25:
                    next_quantity = max(
                        quantity + 1, round(quantity * rng.uniform(1.1, 1.4))
                    )
            rows.append(
                (
                    acct.account_id,
                    f"{acct.account_id}-S1",
                    product,
                    period_start,
                    period_end,
                    price,
                    quantity,
                    "seats",
                    term,
                    reason,
                )
            )
            lo = max(_month_index(month_starts, period_start), 0)
            hi = min(_month_index(month_starts, period_end - timedelta(1)), months - 1)
            if hi >= lo:
                seats_by_month[a, lo : hi + 1] = quantity
            if reason:
                churn[a] = period_end
                break
            if period_end >= end:
                break
            quantity = next_quantity
            k += 1

    return pd.DataFrame(rows, columns=SUBSCRIPTION_COLUMNS), seats_by_month, churn


def _addons(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    health: np.ndarray,
    month_starts: list[date],
    churn: list[date | None],
    reasons: list[str],
) -> pd.DataFrame:
    """Add-ons bought by healthy accounts (expansion) and dropped by struggling ones."""
    n = len(accounts)
    end = month_starts[-1]
    ends = [c or end for c in churn]
    signup = list(accounts["signup"])
    enterprise = (accounts["segment"] == "enterprise").to_numpy()
    ids = list(accounts["account_id"])
    rows: list[dict[str, object]] = []
    open_row: dict[tuple[int, str], dict[str, object]] = {}
    serial = np.ones(n, dtype=int)  # S1 is the plan

    for m in range(len(month_starts) - 1):
        m_start, m_end = month_starts[m], month_starts[m + 1]
        days = (m_end - m_start).days
        h = health[:, m]
        for product, (price, share) in ADDONS.items():
            allowed = enterprise if product == "premium_support" else np.ones(n, bool)
            p_buy = share * 2 * _sigmoid(2.0 * h - 1.0)
            buy = (rng.random(n) < p_buy) & allowed
            drop = (rng.random(n) < 0.15) & (h < -0.7)
            day = rng.integers(0, days, size=n)
            for a in range(n):
                key = (a, product)
                when = m_start + timedelta(days=int(day[a]))
                if key in open_row:
                    if drop[a] and when < ends[a]:
                        open_row.pop(key).update(end_date=when, end_reason="cancelled")
                    continue
                when = max(when, signup[a] + timedelta(days=45))
                if buy[a] and when < min(ends[a], m_end):
                    serial[a] += 1
                    row: dict[str, object] = {
                        "account_id": ids[a],
                        "subscription_id": f"{ids[a]}-S{serial[a]}",
                        "product": product,
                        "start_date": when,
                        "end_date": None,
                        "price": price,
                        "quantity": 1,
                        "units": "",
                        "billing_term": "monthly",
                        "end_reason": "",
                    }
                    rows.append(row)
                    open_row[key] = row

    # Add-ons still open end with the plan when the account leaves.
    for (a, _product), row in open_row.items():
        if churn[a] is not None:
            row.update(end_date=churn[a], end_reason=reasons[a])
    return pd.DataFrame(rows, columns=SUBSCRIPTION_COLUMNS)


def _events(
    rng: np.random.Generator,
    accounts: pd.DataFrame,
    health: np.ndarray,
    seats_by_month: np.ndarray,
    month_starts: list[date],
    churn: list[date | None],
) -> pd.DataFrame:
    """Product usage, CS meetings, NPS answers and tickets, vectorised per month."""
    start, end = month_starts[0], month_starts[-1]
    n, months = health.shape
    day0 = np.array([(d - start).days for d in month_starts])
    alive_lo = np.array([max((s - start).days, 0) for s in accounts["signup"]])
    alive_hi = np.array([((c or end) - start).days for c in churn])

    # One row per account and month it was a customer in.
    a_idx, m_idx = np.nonzero(np.ones((n, months), dtype=bool))
    lo = np.maximum(day0[m_idx], alive_lo[a_idx])
    hi = np.minimum(day0[m_idx + 1], alive_hi[a_idx])
    keep = hi > lo
    a_idx, m_idx, lo, hi = a_idx[keep], m_idx[keep], lo[keep], hi[keep]
    frac = (hi - lo) / (day0[m_idx + 1] - day0[m_idx])
    h = health[a_idx, m_idx]
    seats = seats_by_month[a_idx, m_idx]
    segment = accounts["segment"].to_numpy()[a_idx]

    active_users = rng.binomial(seats, np.clip(0.25 + 0.6 * _sigmoid(1.3 * h), 0, 1))
    intensity = np.exp(0.45 * h)
    integrations = rng.binomial(
        np.array([MAX_INTEGRATIONS[s] for s in segment]), _sigmoid(h - 0.3)
    )

    # Expected events of each type for each account-month.
    expected: dict[str, np.ndarray] = {
        t: rate * active_users * intensity * frac for t, rate in USER_EVENTS.items()
    }
    expected["integration_sync"] = 6.0 * integrations * frac
    meet = np.array([MEETINGS_A_MONTH[s] for s in segment])
    expected["meeting"] = meet * (0.4 + 1.2 * _sigmoid(h)) * frac
    execs = np.array([EXEC_MEETINGS_A_MONTH[s] for s in segment])
    expected["exec_meeting"] = execs * 2 * _sigmoid(1.5 * h) * frac
    expected["ticket"] = (0.3 + 0.05 * active_users) * np.exp(-0.6 * h) * frac
    counts = {t: rng.poisson(v) for t, v in expected.items()}
    counts["nps"] = rng.binomial(active_users, 0.06 * frac)

    types = np.concatenate(
        [np.full(c.sum(), EVENT_TYPES.index(t)) for t, c in counts.items()]
    )
    row = np.concatenate([np.repeat(np.arange(len(a_idx)), c) for c in counts.values()])
    total = len(row)

    # Who: users of the account, a few power users doing most; CS events have none.
    k = active_users[row]
    user = 1 + np.floor(np.maximum(k, 1) * rng.random(total) ** 1.7).astype(int)
    no_user = np.isin(
        types,
        [EVENT_TYPES.index(t) for t in ("integration_sync", "meeting", "exec_meeting")],
    )

    # When: a working day (weights make weekends rare) and a local working hour.
    days = (end - start).days
    weekday = (np.arange(days) + start.weekday()) % 7
    scheduled = np.isin(
        types, [EVENT_TYPES.index(t) for t in ("meeting", "exec_meeting")]
    )
    weights = {
        False: np.where(weekday >= 5, 0.15, 1.0),
        True: np.where(weekday >= 5, 0.002, 1.0),
    }
    day = np.empty(total, dtype=np.int64)
    u = rng.random(total)
    for flag, w in weights.items():
        sel = scheduled == flag
        cum = np.concatenate([[0.0], np.cumsum(w)])
        r_lo, r_hi = lo[row[sel]], hi[row[sel]]
        target = cum[r_lo] + u[sel] * (cum[r_hi] - cum[r_lo])
        picked = np.searchsorted(cum, target, side="right") - 1
        day[sel] = np.clip(picked, r_lo, r_hi - 1)
    seconds = np.where(
        scheduled,
        9 * 3600 + 1800 * rng.integers(0, 16, size=total),
        8 * 3600 + rng.integers(0, 10 * 3600, size=total),
    )
    local = np.datetime64(start, "s") + (day * 86400 + seconds).astype("timedelta64[s]")
    utc = np.empty(total, dtype="datetime64[s]")
    zones = accounts["timezone"].to_numpy()[a_idx[row]]
    for zone in np.unique(zones):
        sel = zones == zone
        stamps = pd.DatetimeIndex(local[sel]).tz_localize(zone).tz_convert("UTC")
        utc[sel] = stamps.tz_localize(None).to_numpy().astype("datetime64[s]")

    # What: NPS answers follow health; ticket severity rises as health falls.
    value = np.full(total, np.nan)
    is_nps = types == EVENT_TYPES.index("nps")
    value[is_nps] = np.clip(
        np.round(7.2 + 1.6 * h[row[is_nps]] + rng.normal(0, 1.4, is_nps.sum())), 0, 10
    )
    is_ticket = types == EVENT_TYPES.index("ticket")
    p_bad = _sigmoid(-1.0 - h[row[is_ticket]])
    value[is_ticket] = 1 + rng.binomial(2, p_bad)

    account_ids = accounts["account_id"].to_numpy()[a_idx[row]]
    order = np.lexsort((types, account_ids, utc))
    users = pd.Series(account_ids).str.cat(
        pd.Series(user).astype(str).str.zfill(3), sep="-u"
    )
    users[no_user] = ""
    events = pd.DataFrame(
        {
            "account_id": account_ids[order],
            "user_id": users.to_numpy()[order],
            "event_type": np.array(EVENT_TYPES)[types[order]],
            "timestamp": np.datetime_as_string(utc[order], unit="s"),
            "value": value[order],
        }
    )
    # Two events of one user and type in the same second would be one event.
    return events.drop_duplicates(ignore_index=True)
