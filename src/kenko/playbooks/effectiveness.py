"""Whether a playbook helps: actioned vs held-out accounts, once outcomes are in.

For every trigger (an opened action or a hold-out) the outcome over the horizon is
read with ``label_outcomes``: retained (not churned) or not; and the score recovery,
the change from the trigger's score to the account's last snapshot within the
horizon. Rates come with 95% Wilson intervals; triggers whose horizon runs past the
data are counted as censored and left out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa

from kenko.durations import Duration
from kenko.settings import Settings
from kenko.store import Store, schema


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion; None without observations."""
    if n == 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (centre - spread) / denominator, (centre + spread) / denominator


@dataclass
class EffectRow:
    """One rule's actioned or held-out accounts."""

    rule: str
    group: str  # "actioned" | "held_out"
    triggered: int
    censored: int
    with_outcome: int
    retained: int
    retention: float | None
    retention_low: float | None
    retention_high: float | None
    improved: int  # score higher at the horizon than at the trigger
    improved_share: float | None
    improved_low: float | None
    improved_high: float | None
    mean_change: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EffectReport:
    horizon: Duration
    data_end: date | None
    rows: list[EffectRow]
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"Playbook effectiveness over {self.horizon} (data to {self.data_end})"


def triggers(store: Store) -> pd.DataFrame:
    """Every trigger: rule, account_id, as_of, score, group."""
    a, h = schema.actions, schema.holdouts
    acted = store.fetch(
        sa.select(
            a.c.rule, a.c.account_id, a.c.opened_on.label("as_of"), a.c.opened_score
        )
    )
    held = store.fetch(sa.select(h.c.rule, h.c.account_id, h.c.as_of, h.c.score))
    rows = [
        {**r, "score": r.pop("opened_score"), "group": "actioned"} for r in acted
    ] + [{**r, "group": "held_out"} for r in held]
    return pd.DataFrame(rows, columns=["rule", "account_id", "as_of", "score", "group"])


def effectiveness(
    store: Store, settings: Settings, horizon: str | Duration, *, version: str
) -> EffectReport:
    """Per rule, retention and score recovery of actioned vs held-out accounts."""
    from kenko.validation.outcomes import label_outcomes

    horizon = Duration.parse(horizon)
    found = triggers(store)
    if found.empty:
        return EffectReport(horizon, None, [], ["no action or hold-out recorded yet"])

    # Outcomes and the score at the horizon.
    outcomes = label_outcomes(store, sorted(set(found["as_of"])), horizon, settings)
    labels = outcomes.labels.set_index(["account_id", "as_of"])
    found["later"] = [
        _score_by(store, r.account_id, horizon.after(r.as_of), version)
        for r in found.itertuples()
    ]
    found = found.join(labels[["churned"]], on=["account_id", "as_of"])

    # One row per rule and group.
    rows = []
    for (rule, group), part in found.groupby(["rule", "group"], sort=True):
        known = part[part["churned"].notna()]
        retained = int((~known["churned"].astype(bool)).sum())
        change = (known["later"] - known["score"]).dropna()
        improved = int((change > 0).sum())
        r_int = wilson(retained, len(known))
        i_int = wilson(improved, len(change))
        rows.append(
            EffectRow(
                rule=str(rule),
                group=str(group),
                triggered=len(part),
                censored=len(part) - len(known),
                with_outcome=len(known),
                retained=retained,
                retention=_share(retained, len(known)),
                retention_low=r_int[0] if r_int else None,
                retention_high=r_int[1] if r_int else None,
                improved=improved,
                improved_share=_share(improved, len(change)),
                improved_low=i_int[0] if i_int else None,
                improved_high=i_int[1] if i_int else None,
                mean_change=round(float(change.mean()), 1) if len(change) else None,
            )
        )
    warnings = [
        f"{r.rule}: only {r.with_outcome} held-out account(s) with outcomes; the "
        "comparison is not reliable yet"
        for r in rows
        if r.group == "held_out" and r.with_outcome < 30
    ]
    return EffectReport(horizon, outcomes.data_end, rows, warnings)


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _score_by(store: Store, account_id: str, day: date, version: str) -> float | None:
    s = schema.snapshots
    rows = store.fetch(
        sa.select(s.c.score)
        .where(
            s.c.account_id == account_id,
            s.c.version == version,
            s.c.as_of <= day,
            s.c.status == "scored",
        )
        .order_by(s.c.as_of.desc())
        .limit(1)
    )
    return rows[0]["score"] if rows else None
