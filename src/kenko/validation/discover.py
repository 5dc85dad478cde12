"""Factor discovery: which candidate measures, taken point in time, go with churn.

Step one of the practice: list the accounts that churned and those that renewed and
find what they share. Candidates are plain kenko measures (event counts over trailing
windows, per-seat and per-active-user ratios, days since last, change vs the window
before, distinct users, tenure, MRR, seats), computed on observation dates with
``compute_measures_many`` and joined to ``label_outcomes``. Each gets its univariate
ROC AUC ("a higher value goes with churn"), the churn rate per decile cohort and its
share missing; candidates that rank accounts alike are clustered so duplicates show,
and two leakage probes flag what looks too good or stamped ahead of what was known.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from kenko.durations import Duration
from kenko.scorecard.model import Measure
from kenko.settings import Settings
from kenko.store import Store, schema
from kenko.validation.metrics import roc_auc
from kenko.validation.outcomes import label_outcomes
from kenko.validation.replay import compute_measures_many

log = logging.getLogger(__name__)

WINDOWS = ("7d", "28d", "90d")
CLUSTER_RHO = 0.8  # |Spearman| at or above which two candidates are duplicates
LEAKY_AUC = 0.95  # a single measure separating churners this well is suspicious
DECILES = 10

# Event types whose name says they record contact with the customer, not product use.
_ENGAGEMENT = re.compile(r"meeting|nps|survey|ticket|csat|qbr|support|touchpoint")
# Placeholder scoring: discovery looks at values only, never at points.
_SCORING = {"linear": {"zero_at": 0, "full_at": 1}}


@dataclass(frozen=True)
class Candidate:
    """A candidate measure, its suggested DEAR group (None: unclear) and its source."""

    measure: Measure
    group: str | None
    source: str

    @property
    def name(self) -> str:
        return self.measure.name


def slug(text: str) -> str:
    """An event type as part of a measure name: lower case, letters, digits and _."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "event"
    return f"e_{out}" if out[0].isdigit() else out


def suggest_group(source: str) -> str | None:
    """The DEAR group a candidate's source points to, or None when it is unclear.

    Seats and users → Deployment; meetings, NPS, surveys, tickets → Engagement; other
    product events → Adoption; values and revenue → ROI.
    """
    kind, _, what = source.partition(":")
    if kind in ("users", "seats") or source == "subscription:seats":
        return "Deployment"
    if kind == "value" or source == "subscription:mrr":
        return "ROI"
    if kind == "events":
        return "Engagement" if _ENGAGEMENT.search(what.lower()) else "Adoption"
    return None


def candidate_measures(
    event_types: Sequence[str],
    valued_types: Sequence[str] = (),
    windows: Sequence[str] = WINDOWS,
) -> list[Candidate]:
    """Every candidate measure for these event types and windows.

    Per event type (and for all events together, named ``events``) and window: the
    count, the count per seat and per active user, and the change against the window
    before; per type the days since its last event (over the longest window). For
    all events: active users, seat use and active days per window. For types that
    carry a value: its sum per window. Then tenure, MRR, seats, products and days to
    renewal from the subscriptions.
    """
    longest = max(windows, key=lambda w: Duration.parse(w).approx_days())
    out: list[Candidate] = []
    used: set[str] = set()

    def add(name: str, source: str, description: str, **fields: Any) -> None:
        base, n = name, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        measure = Measure.model_validate(
            {"name": name, "description": description, "scoring": _SCORING, **fields}
        )
        out.append(Candidate(measure, suggest_group(source), source))

    types = [(slug(t), [t], f"events:{t}", f"{t} events") for t in sorted(event_types)]
    for key, events, source, what in [
        ("events", ["*"], "events:*", "events of any type"),
        *types,
    ]:
        for w in windows:
            count = {"events": events, "aggregation": "count", "window": w}
            add(f"{key}_{w}", source, f"{what} in the last {w}", **count)
            add(
                f"{key}_per_seat_{w}",
                source,
                f"{what} per seat in the last {w}",
                normalise="per_seat",
                **count,
            )
            add(
                f"{key}_per_active_user_{w}",
                source,
                f"{what} per active user in the last {w}",
                normalise="per_active_user",
                **count,
            )
            add(
                f"{key}_change_{w}",
                source,
                f"{what} in the last {w} against the {w} before (ratio)",
                events=events,
                aggregation="change",
                window=w,
            )
        name = "days_since_last_event" if key == "events" else f"days_since_last_{key}"
        add(
            name,
            source,
            f"days since the last of the {what} (capped at {longest})",
            events=events,
            aggregation="days_since_last",
            window=longest,
        )
    for w in windows:
        add(
            f"active_users_{w}",
            "users:*",
            f"users with any event in the last {w}",
            events=["*"],
            aggregation="distinct_users",
            window=w,
        )
        add(
            f"seat_use_{w}",
            "seats:active_users",
            f"share of seats with a user active in the last {w}",
            formula=f"active_users_{w} / seats",
        )
        add(
            f"active_days_{w}",
            "events:*",
            f"days with any event in the last {w}",
            events=["*"],
            aggregation="active_days",
            window=w,
        )
    for t in sorted(valued_types):
        for w in windows:
            add(
                f"{slug(t)}_value_{w}",
                f"value:{t}",
                f"value of {t} events in the last {w}",
                events=[t],
                aggregation="sum",
                window=w,
            )
    for field_name, description in [
        ("tenure_days", "days since the account's first line item started"),
        ("mrr", "MRR of the line items active on the as-of date"),
        ("seats", "seats bought"),
        ("products", "distinct products active"),
        ("days_to_renewal", "days to the next end of an active line item"),
    ]:
        add(
            field_name,
            f"subscription:{field_name}",
            description,
            subscription=field_name,
        )
    return out


# -- results --


@dataclass(frozen=True)
class Decile:
    """One cohort of a candidate's values (1 = lowest) and its churn rate."""

    decile: int
    low: float
    high: float
    rows: int
    churn_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "decile": self.decile,
            "low": self.low,
            "high": self.high,
            "rows": self.rows,
            "churn_rate": self.churn_rate,
        }


@dataclass
class Factor:
    """One candidate's evidence.

    ``auc`` is P(a churner's value > a retained account's value), ties counting half,
    over the rows with a value; ``direction`` reads it as health (above 0.5: lower is
    better). ``duplicate_of`` names the strongest candidate of its cluster.
    """

    name: str
    description: str
    group: str | None
    source: str
    rows: int
    churned: int
    missing_share: float
    auc: float | None
    deciles: list[Decile]
    cluster: int = 0
    duplicate_of: str | None = None
    leakage: list[str] = field(default_factory=list)

    @property
    def strength(self) -> float:
        return 0.0 if self.auc is None else abs(self.auc - 0.5)

    @property
    def direction(self) -> str:
        if self.auc is None or self.auc == 0.5:
            return "none"
        return "lower_is_better" if self.auc > 0.5 else "higher_is_better"

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.name,
            "description": self.description,
            "group": self.group,
            "source": self.source,
            "auc": self.auc,
            "strength": round(self.strength, 6),
            "direction": self.direction,
            "rows": self.rows,
            "churned": self.churned,
            "missing_share": self.missing_share,
            "cluster": self.cluster,
            "duplicate_of": self.duplicate_of,
            "leakage": list(self.leakage),
            "deciles": [d.to_dict() for d in self.deciles],
        }


@dataclass(frozen=True)
class LeakageFlag:
    """A probe that fired: on a measure, or on an event type (``subject``)."""

    subject: str
    probe: str  # "auc_above_0.95" or "stamped_after_known"
    detail: str


@dataclass
class DiscoveryResult:
    """Ranked factors (strongest |AUC - 0.5| first) with clusters and leakage flags."""

    dates: list[date]
    horizon: str
    rows: int
    churned: int
    censored: int
    factors: list[Factor]
    clusters: list[list[str]]  # clusters of two or more, strongest member first
    flags: list[LeakageFlag]
    warnings: list[str] = field(default_factory=list)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per factor, ranked (the JSON shape of ``kenko discover``)."""
        return [{"rank": i + 1, **f.to_dict()} for i, f in enumerate(self.factors)]


# -- the computation --


def discover(
    store: Store,
    settings: Settings,
    dates: Sequence[date],
    horizon: str | Duration = "180d",
    *,
    windows: Sequence[str] = WINDOWS,
) -> DiscoveryResult:
    """Compute every candidate on ``dates``, label churn within ``horizon``, rank."""
    dates = sorted(set(dates))
    horizon = Duration.parse(horizon)

    # Candidates from the event types the store holds.
    event_types, valued = _event_types(store)
    candidates = candidate_measures(event_types, valued, windows)
    log.info(
        "discover: %d candidates over %d dates (%d event types)",
        len(candidates),
        len(dates),
        len(event_types),
    )

    # Values point in time, labels from the subscriptions.
    outcomes = label_outcomes(store, dates, horizon, settings)
    values = compute_measures_many(
        store, [c.measure for c in candidates], dates, settings
    )
    values, churned = _join(values, outcomes.labels)

    # Evidence per candidate, clusters, leakage.
    factors = factor_table(values, churned, candidates)
    clusters = cluster_factors(factors, values)
    flags = leakage_flags(factors, candidates, stamped_after_known(store, dates))
    result = DiscoveryResult(
        dates=list(dates),
        horizon=str(horizon),
        rows=len(churned),
        churned=int(churned.sum()),
        censored=len(outcomes.censored),
        factors=factors,
        clusters=clusters,
        flags=flags,
    )
    if result.churned < 20:
        result.warnings.append(
            f"only {result.churned} churned account-dates; AUCs and decile churn "
            "rates are unreliable"
        )
    return result


def _event_types(store: Store) -> tuple[list[str], list[str]]:
    """Event types in the store, and those with a numeric value on some event."""
    e = schema.events
    rows = store.fetch(
        sa.select(e.c.event_type, sa.func.count(e.c.value).label("valued")).group_by(
            e.c.event_type
        )
    )
    types = sorted(r["event_type"] for r in rows)
    valued = sorted(r["event_type"] for r in rows if r["valued"])
    return types, valued


def _join(values: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Candidate values and churn flags on the labelled (account_id, as_of) rows."""
    v = values.copy().reset_index()
    v["as_of"] = pd.to_datetime(v["as_of"]).dt.date
    v["account_id"] = v["account_id"].astype(str)
    lab = labels[["account_id", "as_of", "churned"]].copy()
    lab["as_of"] = pd.to_datetime(lab["as_of"]).dt.date
    lab["account_id"] = lab["account_id"].astype(str)
    joined = lab.merge(v, on=["account_id", "as_of"], how="inner")
    joined = joined.sort_values(["as_of", "account_id"]).set_index(
        ["account_id", "as_of"]
    )
    churned = joined.pop("churned").astype(bool)
    return joined.astype(float), churned


def auc_higher_churns(values: np.ndarray, churned: np.ndarray) -> float | None:
    """P(churner's value > retained account's value), ties half; NaNs left out.

    None when either side has no row with a value.
    """
    ok = ~np.isnan(values)
    auc = roc_auc(churned[ok], values[ok])
    return None if math.isnan(auc) else auc


def decile_rates(
    values: pd.Series, churned: pd.Series, cohorts: int = DECILES
) -> list[Decile]:
    """Churn rate per cohort of about n / ``cohorts`` rows, by value; ties together.

    The row at (0-based) position p of the sorted values falls in cohort
    floor(p x cohorts / n) + 1, and tied values all take the cohort of the first of
    them, so a value shared by many rows (zero meetings) is one cohort, not several
    arbitrary ones. Cohorts left empty that way are left out.
    """
    frame = pd.DataFrame({"x": values, "y": churned.astype(float)}).dropna()
    n = len(frame)
    if n == 0:
        return []
    first = frame["x"].rank(method="min").to_numpy() - 1
    bucket = (first * cohorts // n).astype(int) + 1
    out = []
    for i, part in frame.groupby(bucket, sort=True):
        out.append(
            Decile(
                decile=int(i),
                low=float(part["x"].min()),
                high=float(part["x"].max()),
                rows=len(part),
                churn_rate=round(float(part["y"].mean()), 6),
            )
        )
    return out


def factor_table(
    values: pd.DataFrame, churned: pd.Series, candidates: Sequence[Candidate]
) -> list[Factor]:
    """Evidence per candidate, ranked by |AUC - 0.5| (strongest first), then name."""
    y = churned.to_numpy(dtype=bool)
    factors = []
    for c in candidates:
        column = values[c.name].astype(float)
        x = column.to_numpy()
        auc = auc_higher_churns(x, y)
        factors.append(
            Factor(
                name=c.name,
                description=c.measure.description,
                group=c.group,
                source=c.source,
                rows=int((~np.isnan(x)).sum()),
                churned=int(y[~np.isnan(x)].sum()),
                missing_share=round(float(np.isnan(x).mean()), 6) if len(x) else 1.0,
                auc=None if auc is None else round(auc, 6),
                deciles=decile_rates(column, churned),
            )
        )
    factors.sort(key=lambda f: (-f.strength, f.name))
    return factors


def correlated_clusters(
    values: pd.DataFrame, threshold: float = CLUSTER_RHO, *, min_rows: int = 10
) -> list[list[str]]:
    """Columns joined when |Spearman| ≥ threshold on their shared rows (union-find).

    Single linkage: A~B and B~C put A, B and C together. Every column is in exactly one
    cluster; the clusters keep the columns' order.
    """
    names = list(values.columns)
    # Pearson on ranks is Spearman; each column is ranked once over its own values,
    # so on pairs with missing values this approximates re-ranking the shared rows.
    ranks = values.rank(method="average")
    complete = [c for c in names if ranks[c].notna().all()]
    rho = pd.DataFrame(np.nan, index=names, columns=names)
    if len(complete) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.corrcoef(ranks[complete].to_numpy(), rowvar=False)
        rho.loc[complete, complete] = matrix
    partial = [c for c in names if c not in complete]
    if partial:
        pairwise = ranks.corr(method="pearson", min_periods=min_rows)
        rho.loc[partial, :] = pairwise.loc[partial, :]
        rho.loc[:, partial] = pairwise.loc[:, partial]
    rho = rho.to_numpy()
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    linked = np.argwhere(np.triu(np.abs(np.nan_to_num(rho)) >= threshold, k=1))
    for i, j in linked:
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[str]] = {}
    for i, name in enumerate(names):
        groups.setdefault(root(i), []).append(name)
    return list(groups.values())


def cluster_factors(
    factors: list[Factor], values: pd.DataFrame, threshold: float = CLUSTER_RHO
) -> list[list[str]]:
    """Number the factors' clusters by rank; mark each non-lead as a duplicate."""
    ordered = values[[f.name for f in factors]]
    clusters = correlated_clusters(ordered, threshold)
    by_name = {f.name: f for f in factors}
    for number, members in enumerate(clusters, start=1):
        for name in members:
            by_name[name].cluster = number
            by_name[name].duplicate_of = members[0] if name != members[0] else None
    return [members for members in clusters if len(members) > 1]


def stamped_after_known(store: Store, dates: Sequence[date]) -> dict[str, int]:
    """Event types with events the store knew before an as-of date, stamped after it.

    An event loaded before date d but stamped on or after d carries a planned or
    back-filled date, not when it happened: measures over such a type may read the
    outcome. Returns event type -> events found (summed over the dates).
    """
    e, loads = schema.events, schema.loads
    first_load = store.fetch(sa.select(sa.func.min(loads.c.loaded_at).label("t")))
    earliest = first_load[0]["t"] if first_load else None
    counts: dict[str, int] = {}
    for d in sorted(dates):
        instant = datetime.combine(d, time(0))
        if earliest is None or earliest >= instant:
            continue  # nothing was loaded before d: the backtest is all hindsight
        query = (
            sa.select(e.c.event_type, sa.func.count().label("n"))
            .select_from(e.join(loads, e.c.load_id == loads.c.load_id))
            .where(loads.c.loaded_at < instant, e.c.ts >= instant)
            .group_by(e.c.event_type)
        )
        for row in store.fetch(query):
            counts[row["event_type"]] = counts.get(row["event_type"], 0) + int(row["n"])
    return counts


def leakage_flags(
    factors: list[Factor],
    candidates: Sequence[Candidate],
    stamped: dict[str, int],
    threshold: float = LEAKY_AUC,
) -> list[LeakageFlag]:
    """Flags for too-good factors and for event types stamped after they were known.

    A factor separates "too well" when its AUC is above ``threshold`` or below
    1 - ``threshold``; the flags are also written onto the factors.
    """
    flags: list[LeakageFlag] = []
    events_of = {c.name: set(c.measure.events or []) for c in candidates}
    probe = f"auc_above_{threshold:g}"
    for f in factors:
        if f.auc is not None and f.strength > threshold - 0.5:
            f.leakage.append(probe)
            flags.append(
                LeakageFlag(
                    f.name,
                    probe,
                    f"AUC {f.auc:.3f} on its own: check that it is known before the "
                    "as-of date and is not the outcome itself",
                )
            )
    for event_type, n in sorted(stamped.items()):
        flags.append(
            LeakageFlag(
                event_type,
                "stamped_after_known",
                f"{n} {event_type} events were in the store before an as-of date but "
                "stamped after it: their timestamps are not when they happened",
            )
        )
        for f in factors:
            types = events_of.get(f.name, set())
            if event_type in types or "*" in types:
                f.leakage.append("stamped_after_known")
    return flags
