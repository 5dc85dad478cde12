"""The playbooks file: rules that open actions when an account's health falls.

A rule has one trigger, optional limits (segment, attributes, MRR, owner), flap control
(re-arm margin, cooldown, auto-close), an optional hold-out share and the action to
open. ``read_playbooks`` validates the YAML and reports every problem by key path and
line, like the scorecard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.playbooks.template import placeholders
from kenko.scorecard.model import Scorecard
from kenko.yamlcheck import at, read_text, validate_yaml

ROLES = ("csm", "manager_of_csm")
TEMPLATE_FIELDS = (
    "account_id",
    "name",
    "owner",
    "score",
    "band",
    "segment",
    "reasons",
    "as_of",
    "rule",
    "mrr",
    "days_to_renewal",
)


class PlaybooksError(KenkoError, ValueError):
    """A playbooks file is invalid; ``problems`` lists (key path, message)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreBelow(_Strict):
    """The score is below ``threshold`` on ``snapshots`` consecutive snapshots."""

    threshold: float = Field(ge=0, le=100)
    snapshots: int = Field(1, ge=1, le=52)


class EntersBand(_Strict):
    """The account's band becomes ``band``."""

    band: str


class Drop(_Strict):
    """The score fell by at least ``points`` since the snapshot ``over`` ago."""

    points: float = Field(gt=0, le=100)
    over: str = Field(description="How far back to compare, e.g. '28d' or '1mo'.")

    @model_validator(mode="after")
    def _duration(self) -> Drop:
        Duration.parse(self.over)
        return self


class MeasureCondition(_Strict):
    """A scorecard measure's value compared with ``value`` (e.g. no login for 14d)."""

    measure: str
    op: Literal[">=", ">", "<=", "<"]
    value: float


class Renewal(_Strict):
    """A line item ends within ``within_days`` while the band is not ``unless_band``."""

    within_days: int = Field(ge=1, le=730)
    unless_band: str = "green"


class Trigger(_Strict):
    """Exactly one of the trigger kinds."""

    score_below: ScoreBelow | None = None
    enters_band: EntersBand | None = None
    drop: Drop | None = None
    measure: MeasureCondition | None = None
    renewal: Renewal | None = None

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        set_ = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError(
                "give exactly one trigger: score_below, enters_band, drop, measure or "
                f"renewal (found {', '.join(set_) or 'none'})"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)


class Limits(_Strict):
    """Which accounts a rule applies to; every limit given must hold."""

    segment: list[str] | None = Field(
        None, description="Scorecard segments (the snapshot's segment)."
    )
    attributes: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Account attribute -> required value (or any of a list).",
    )
    mrr_min: float | None = Field(None, description="Smallest MRR (inclusive).")
    mrr_max: float | None = Field(None, description="Largest MRR (exclusive).")
    owner: list[str] | None = Field(None, description="Account owners (CSMs).")

    @model_validator(mode="after")
    def _mrr_range(self) -> Limits:
        low, high = self.mrr_min, self.mrr_max
        if low is not None and high is not None and low >= high:
            raise ValueError(
                f"mrr_min ({low:g}) must be below mrr_max ({high:g}); no account "
                "could match (mrr_min is inclusive, mrr_max exclusive)"
            )
        return self


class Action(_Strict):
    """The task a rule opens."""

    title: str = Field(min_length=1)
    description: str = ""
    owner: str = Field(
        "csm",
        description="'csm' (the account's owner), 'manager_of_csm' (through people:) "
        "or the name of a person under people:.",
    )
    due_in_days: int = Field(7, ge=0, le=365)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    steps: list[str] = Field(default_factory=list)


class Rule(_Strict):
    """When to open an action, for which accounts, and how often at most."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    trigger: Trigger
    where: Limits = Field(default_factory=Limits)
    rearm_margin: float = Field(
        5.0,
        ge=0,
        description="After firing, the account must recover this far past the "
        "trigger's line (score points, or the measure's units) before it can fire "
        "again.",
    )
    cooldown: str | None = Field(
        None, description="No new action within this long of the previous one."
    )
    auto_close: bool = Field(
        False, description="Close the open action when the account recovers."
    )
    holdout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Share of triggered accounts held out (no task, recorded) to "
        "measure whether the playbook helps.",
    )
    action: Action

    @model_validator(mode="after")
    def _cooldown(self) -> Rule:
        if self.cooldown is not None:
            Duration.parse(self.cooldown)
        return self


class Person(_Strict):
    """Someone actions can be assigned to."""

    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    manager: str | None = None


class Playbooks(_Strict):
    """The whole playbooks file."""

    people: dict[str, Person] = Field(default_factory=dict)
    fallback_owner: str | None = Field(
        None, description="Owner of actions whose account has no CSM (or manager)."
    )
    max_data_age: str = Field(
        "7d",
        description="When the newest event in the store is older than the as-of date "
        "minus this, a run scores but opens no actions (status `stale`).",
    )
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _data_age(self) -> Playbooks:
        Duration.parse(self.max_data_age)
        return self

    def rule(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)


def read_playbooks(path: Path, scorecard: Scorecard | None = None) -> Playbooks:
    """Read and validate a playbooks file (against the scorecard, when given)."""
    text = read_text(
        path,
        error=PlaybooksError,
        what="playbooks file",
        fix="check the `playbooks` setting in kenko.yaml, or run `kenko init`",
    )
    return parse_playbooks(text, path, scorecard)


def parse_playbooks(
    text: str, path: Path | None = None, scorecard: Scorecard | None = None
) -> Playbooks:
    """Validate playbooks text; every problem is reported with its key path and line."""
    where = str(path) if path else "playbooks"
    playbooks, root = validate_yaml(
        text,
        Playbooks,
        error=PlaybooksError,
        where=where,
        what="playbooks file",
        empty_ok=True,
    )
    semantic = _semantic_problems(playbooks, root, scorecard)
    if semantic:
        raise PlaybooksError(
            f"{len(semantic)} problem(s) in the playbooks file",
            where=where,
            problems=semantic,
        )
    return playbooks


def _semantic_problems(
    pb: Playbooks, root: yaml.Node | None, scorecard: Scorecard | None
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    measures = _measure_names(scorecard) if scorecard else None
    bands = _band_names(scorecard) if scorecard else None
    seen: set[str] = set()
    for i, rule in enumerate(pb.rules):
        here: list[Any] = ["rules", i]
        if rule.name in seen:
            out.append((at(root, [*here, "name"]), f"rule {rule.name!r} is used twice"))
        seen.add(rule.name)
        owner = rule.action.owner
        if owner not in ROLES and owner not in pb.people:
            out.append(
                (
                    at(root, [*here, "action", "owner"]),
                    f"{owner!r} is neither a role ({', '.join(ROLES)}) nor a person "
                    "under people:; add them under people:",
                )
            )
        for key in ("title", "description"):
            for name in placeholders(getattr(rule.action, key)):
                known = name in TEMPLATE_FIELDS or (
                    name.startswith("measures.")
                    and (measures is None or name.split(".", 1)[1] in measures)
                )
                if not known:
                    out.append(
                        (
                            at(root, [*here, "action", key]),
                            f"unknown placeholder {{{name}}}; use one of "
                            f"{', '.join(TEMPLATE_FIELDS)} or measures.NAME",
                        )
                    )
        t = rule.trigger
        if t.measure and measures is not None and t.measure.measure not in measures:
            out.append(
                (
                    at(root, [*here, "trigger", "measure", "measure"]),
                    f"the scorecard has no measure {t.measure.measure!r}",
                )
            )
        band = (t.enters_band.band if t.enters_band else None) or (
            t.renewal.unless_band if t.renewal else None
        )
        if band and bands is not None and band not in bands:
            out.append(
                (
                    at(root, [*here, "trigger", t.kind]),
                    f"the scorecard has no band {band!r}; its bands are "
                    f"{', '.join(sorted(bands))}",
                )
            )
    for name, person in pb.people.items():
        if person.manager is not None and person.manager not in pb.people:
            out.append(
                (
                    at(root, ["people", name, "manager"]),
                    f"manager {person.manager!r} is not under people:",
                )
            )
    if pb.fallback_owner is not None and pb.fallback_owner not in pb.people:
        out.append(
            (
                at(root, ["fallback_owner"]),
                f"{pb.fallback_owner!r} is not under people:",
            )
        )
    return out


def _measure_names(scorecard: Scorecard) -> set[str]:
    return {m.name for _, _, v in scorecard.variants() for _, m in v.measures()}


def _band_names(scorecard: Scorecard) -> set[str]:
    return {b.name for _, _, v in scorecard.variants() for b in v.bands}
