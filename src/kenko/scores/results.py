"""What a scoring run returns: an AccountScore per account, with measures, reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np


def _clean(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


@dataclass(slots=True)
class MeasureResult:
    """One measure of one account: its value, points, share of the score and note."""

    value: float | None
    points: float | None
    weight: float  # share of the final score after renormalising (0 when not counted)
    group: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _clean(self.value),
            "points": _clean(self.points),
            "weight": self.weight,
            "group": self.group,
            "note": self.note,
        }


@dataclass(slots=True)
class Reason:
    """A measure that cost the score points: ``lost`` = (100 - points) x weight."""

    measure: str
    group: str
    value: float | None
    points: float
    lost: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "group": self.group,
            "value": _clean(self.value),
            "points": self.points,
            "lost": self.lost,
        }


@dataclass
class AccountScore:
    """The health of one account as of one date under one scorecard version."""

    account_id: str
    as_of: date
    version: str
    segment: str
    score: float | None
    band: str | None
    status: str  # "scored" or "insufficient_data"
    coverage: float
    groups: dict[str, float | None]
    measures: dict[str, MeasureResult]
    reasons: list[Reason]
    previous_score: float | None = None
    change: float | None = None
    # Expected renewal probability, set only when the version has a calibration.
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kenko score --format json``."""
        out = {
            "account_id": self.account_id,
            "as_of": self.as_of.isoformat(),
            "version": self.version,
            "segment": self.segment,
            "score": self.score,
            "band": self.band,
            "status": self.status,
            "coverage": self.coverage,
            "previous_score": self.previous_score,
            "change": self.change,
            "groups": dict(self.groups),
            "measures": {k: m.to_dict() for k, m in self.measures.items()},
            "reasons": [r.to_dict() for r in self.reasons],
        }
        if self.probability is not None:
            out["probability"] = self.probability
        return out


@dataclass
class ScoreBlock:
    """One segment's results as arrays: built fast, turned into objects on demand.

    Rows are accounts, columns measures (``values``, ``points``, ``weights``,
    ``lost``) or groups (``group_scores``); NaN means no value.
    """

    segment: str
    version: str
    as_of: date
    account_ids: list[str]
    score: np.ndarray  # NaN unless scored (rounded to 0.1)
    band: list[str | None]
    status: list[str]
    coverage: np.ndarray
    previous: np.ndarray
    change: np.ndarray
    group_names: list[str]
    group_scores: np.ndarray
    measure_names: list[str]
    measure_groups: list[str]
    values: np.ndarray
    points: np.ndarray
    weights: np.ndarray
    notes: list[list[str | None]]  # per measure, per account
    reasons: list[list[int]]  # per account: measure columns, most points lost first
    lost: np.ndarray

    def __len__(self) -> int:
        return len(self.account_ids)

    def result(self, i: int) -> AccountScore:
        values, points = self.values[i].tolist(), self.points[i].tolist()
        weights, lost = self.weights[i].tolist(), self.lost[i].tolist()
        names, groups = self.measure_names, self.measure_groups
        return AccountScore(
            account_id=self.account_ids[i],
            as_of=self.as_of,
            version=self.version,
            segment=self.segment,
            score=_clean(float(self.score[i])),
            band=self.band[i],
            status=self.status[i],
            coverage=float(self.coverage[i]),
            groups={
                g: _clean(v)
                for g, v in zip(
                    self.group_names, self.group_scores[i].tolist(), strict=True
                )
            },
            measures={
                names[j]: MeasureResult(
                    _clean(values[j]),
                    _clean(points[j]),
                    weights[j],
                    groups[j],
                    self.notes[j][i],
                )
                for j in range(len(names))
            },
            reasons=[
                Reason(names[j], groups[j], _clean(values[j]), points[j], lost[j])
                for j in self.reasons[i]
            ],
            previous_score=_clean(float(self.previous[i])),
            change=_clean(float(self.change[i])),
        )


@dataclass
class ScoreRun:
    """Every account scored on one as-of date; ``save_snapshots`` stores it.

    The results live in ``blocks`` (arrays per segment); ``results`` turns them into
    one AccountScore per account, in ``order``, the first time it is read.
    """

    as_of: date
    version: str
    scorecard_name: str
    blocks: list[ScoreBlock] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scorecard_text: str = ""
    order: list[str] = field(default_factory=list)
    _results: list[AccountScore] | None = field(default=None, repr=False)

    @property
    def results(self) -> list[AccountScore]:
        if self._results is None:
            out = [b.result(i) for b in self.blocks for i in range(len(b))]
            rank = {a: n for n, a in enumerate(self.order)}
            out.sort(key=lambda r: rank.get(r.account_id, len(rank)))
            self._results = out
        return self._results

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks)
