"""Monitoring: for every scored cohort whose outcomes have arrived, did bands hold?

A cohort is one as-of date of stored snapshots. Expected renewals per band are the
sum of the calibrated probabilities; the actual count is tested against them with
an exact two-sided binomial test at the band's mean probability. A band whose
p-value falls below ``alpha`` is flagged as drift: the signal to redesign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import sqlalchemy as sa
from scipy import stats

from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.settings import Settings
from kenko.store import Store, schema
from kenko.validation.calibrate import read_calibration
from kenko.validation.outcomes import data_end, label_outcomes

log = logging.getLogger(__name__)


@dataclass
class MonitorResult:
    """Expected vs actual renewals per cohort and band, with the drift flags."""

    version: str
    horizon: str
    data_end: date
    cohorts: pd.DataFrame  # as_of, band, n, expected, actual, p_value, drift
    waiting: list[date]  # cohorts whose horizon has not passed yet

    @property
    def drift(self) -> bool:
        return bool(self.cohorts["drift"].any()) if len(self.cohorts) else False

    def to_dict(self) -> dict[str, Any]:
        rows = self.cohorts.assign(as_of=self.cohorts["as_of"].map(str))
        return {
            "version": self.version,
            "horizon": self.horizon,
            "data_end": self.data_end.isoformat(),
            "drift": self.drift,
            "cohorts": rows.to_dict("records"),
            "waiting": [d.isoformat() for d in self.waiting],
        }


def monitor(
    store: Store, version: str, settings: Settings, *, alpha: float = 0.01
) -> MonitorResult:
    """Check every stored cohort of ``version`` whose horizon has passed."""
    cal = read_calibration(store, version)
    if cal is None:
        raise KenkoError(
            f"scorecard version {version[:12]} has no calibration",
            fix="run `kenko calibrate` first",
        )
    horizon = Duration.parse(cal.horizon)
    end = data_end(store, settings)
    S = schema.snapshots
    snaps = pd.DataFrame(
        store.fetch(
            sa.select(S.c.account_id, S.c.as_of, S.c.band, S.c.score).where(
                S.c.version == version, S.c.status == "scored"
            )
        ),
        columns=["account_id", "as_of", "band", "score"],
    )
    dates = sorted(set(snaps["as_of"]))
    ready = [d for d in dates if horizon.after(d) <= end]
    waiting = [d for d in dates if d not in ready]
    columns = ["as_of", "band", "n", "expected", "actual", "p_value", "drift"]
    if not ready:
        return MonitorResult(
            version, str(horizon), end, pd.DataFrame(columns=columns), waiting
        )
    labels = label_outcomes(store, ready, horizon, settings).labels
    rows = snaps.merge(
        labels[["account_id", "as_of", "churned"]], on=["account_id", "as_of"]
    )
    rows["p"] = cal.predict(rows["score"])
    rows["renewed"] = ~rows["churned"].astype(bool)
    out = []
    for (day, band), g in rows.groupby(["as_of", "band"], sort=True):
        n, actual = len(g), int(g["renewed"].sum())
        expected = float(g["p"].sum())
        p_value = stats.binomtest(actual, n, min(max(expected / n, 0.0), 1.0)).pvalue
        out.append([day, band, n, expected, actual, float(p_value), p_value < alpha])
    log.info("monitored %d cohorts of version %s", len(ready), version[:12])
    return MonitorResult(
        version, str(horizon), end, pd.DataFrame(out, columns=columns), waiting
    )
