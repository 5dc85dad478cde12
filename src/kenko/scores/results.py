"""What a scoring run returns: an AccountScore per account, with measures, reasons."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``kenko score --format json``."""
        return {
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


@dataclass
class ScoreRun:
    """Every account scored on one as-of date; ``save_snapshots`` stores it."""

    as_of: date
    version: str
    scorecard_name: str
    results: list[AccountScore]
    warnings: list[str] = field(default_factory=list)
    scorecard_text: str = ""
