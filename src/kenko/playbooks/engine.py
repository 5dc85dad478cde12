"""Evaluating rules: what each account looks like on a date, and what a rule does.

``step`` is the whole decision for one rule and one account on one as-of date: given
the account's observation and the rule's state it returns the new state and what to
do (open, hold out, update, close, re-arm). ``observe`` reads the observations from
the stored snapshot series, subscriptions and accounts.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

import sqlalchemy as sa

from kenko.durations import Duration
from kenko.playbooks.rules import Limits, Playbooks, Rule
from kenko.scorecard.model import Band, Scorecard
from kenko.scores import read_snapshots
from kenko.store import Store, schema
from kenko.store.queries import account_attributes

Step = Literal["open", "hold_out", "update", "close", "rearm"]
S = schema.snapshots

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Observation:
    """One account on one as-of date, as the rules see it."""

    account_id: str
    as_of: date
    status: str  # "scored" | "insufficient_data"
    score: float | None
    band: str | None
    segment: str = "default"
    recent: tuple[float | None, ...] = ()  # latest snapshots' scores, oldest first
    reference: Mapping[str, float | None] = field(default_factory=dict)  # over -> score
    measures: Mapping[str, float | None] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    days_to_renewal: int | None = None
    mrr: float = 0.0
    owner: str | None = None
    name: str | None = None
    attributes: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleState:
    """Where one rule stands for one account."""

    armed: bool = True
    fired_on: date | None = None
    fired_score: float | None = None
    action_id: int | None = None  # the open action, if any


def step(
    rule: Rule,
    obs: Observation,
    state: RuleState,
    bands: Sequence[Band],
    *,
    held_out: bool = False,
) -> tuple[RuleState, list[Step]]:
    """The rule's new state for this account and what to do about it.

    ``insufficient_data`` neither fires nor counts as recovery. After firing, a rule
    re-arms only once the account recovers past the trigger's line by the re-arm
    margin (closing the open action if ``auto_close``); while an action is open a new
    firing updates it instead of opening another.
    """
    if obs.status != "scored" or obs.score is None or not applies(rule.where, obs):
        return state, []
    if not state.armed:
        if recovered(rule, obs, state, bands):
            if rule.auto_close and state.action_id is not None:
                return replace(state, armed=True, action_id=None), ["rearm", "close"]
            return replace(state, armed=True), ["rearm"]
        if state.action_id is not None and fires(rule, obs, bands):
            return state, ["update"]
        return state, []
    if not fires(rule, obs, bands) or _cooling(rule, obs, state):
        return state, []
    fired = replace(state, armed=False, fired_on=obs.as_of, fired_score=obs.score)
    if state.action_id is not None:
        return fired, ["update"]
    if held_out:
        return fired, ["hold_out"]
    return fired, ["open"]


def applies(limits: Limits, obs: Observation) -> bool:
    """Whether every limit the rule sets holds for the account."""
    if limits.segment is not None and obs.segment not in limits.segment:
        return False
    if limits.owner is not None and obs.owner not in limits.owner:
        return False
    if limits.mrr_min is not None and obs.mrr < limits.mrr_min:
        return False
    if limits.mrr_max is not None and obs.mrr >= limits.mrr_max:
        return False
    for name, wanted in limits.attributes.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if obs.attributes.get(name) not in options:
            return False
    return True


def fires(rule: Rule, obs: Observation, bands: Sequence[Band]) -> bool:
    """Whether the trigger's condition holds on this observation."""
    t = rule.trigger
    score = obs.score
    if score is None:
        return False
    if t.score_below:
        last = obs.recent[-t.score_below.snapshots :]
        return len(last) == t.score_below.snapshots and all(
            s is not None and s < t.score_below.threshold for s in last
        )
    if t.enters_band:
        return obs.band == t.enters_band.band
    if t.drop:
        before = obs.reference.get(t.drop.over)
        return before is not None and before - score >= t.drop.points
    if t.measure:
        value = obs.measures.get(t.measure.measure)
        return value is not None and _OPS[t.measure.op](value, t.measure.value)
    assert t.renewal is not None
    days = obs.days_to_renewal
    return (
        days is not None
        and 0 <= days <= t.renewal.within_days
        and obs.band != t.renewal.unless_band
    )


def recovered(
    rule: Rule, obs: Observation, state: RuleState, bands: Sequence[Band]
) -> bool:
    """Whether the account is back past the trigger's line by the re-arm margin."""
    t, margin, score = rule.trigger, rule.rearm_margin, obs.score
    if score is None:
        return False
    if t.score_below:
        return score >= t.score_below.threshold + margin
    if t.enters_band:
        low, high = band_range(bands, t.enters_band.band)
        return (high is not None and score >= high + margin) or (
            low is not None and score < low - margin
        )
    if t.drop:
        return state.fired_score is None or score >= state.fired_score + margin
    if t.measure:
        value = obs.measures.get(t.measure.measure)
        if value is None:
            return False
        if t.measure.op in (">=", ">"):
            return value < t.measure.value - margin
        return value > t.measure.value + margin
    assert t.renewal is not None
    days = obs.days_to_renewal
    if days is None or days > t.renewal.within_days:
        return True
    low, _ = band_range(bands, t.renewal.unless_band)
    return obs.band == t.renewal.unless_band and score >= (low or 0.0) + margin


def band_range(bands: Sequence[Band], name: str) -> tuple[float | None, float | None]:
    """(lowest score, exclusive top) of a band; None where it is open."""
    low: float | None = None
    for band in bands:
        if band.name == name:
            return low, band.below
        low = band.below
    return None, None


def _cooling(rule: Rule, obs: Observation, state: RuleState) -> bool:
    if rule.cooldown is None or state.fired_on is None:
        return False
    return Duration.parse(rule.cooldown).after(state.fired_on) > obs.as_of


def is_held_out(rule: Rule, account_id: str, as_of: date) -> bool:
    """The rule's hold-out draw: a hash of account, rule and date, so it repeats."""
    if rule.holdout <= 0:
        return False
    digest = hashlib.sha256(f"{account_id}|{rule.name}|{as_of}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rule.holdout


# -- reading observations from the store ----------------------------------------------


def observe(
    store: Store, playbooks: Playbooks, as_of: date, version: str
) -> list[Observation]:
    """Every account with a snapshot on ``as_of`` (this version), as rules see it."""
    snaps = read_snapshots(store, as_of=as_of, version=version)
    depth = max(
        (
            r.trigger.score_below.snapshots
            for r in playbooks.rules
            if r.trigger.score_below
        ),
        default=1,
    )
    recent = _recent_scores(store, as_of, version, depth)
    overs = sorted({r.trigger.drop.over for r in playbooks.rules if r.trigger.drop})
    reference = {
        o: _score_before(store, Duration.parse(o).before(as_of), version) for o in overs
    }
    billing = _billing(store, as_of)
    attrs = account_attributes(store)
    out = []
    for s in snaps:
        a = attrs.get(s.account_id, {})
        mrr, renews = billing.get(s.account_id, (0.0, None))
        out.append(
            Observation(
                account_id=s.account_id,
                as_of=as_of,
                status=s.status,
                score=s.score,
                band=s.band,
                segment=s.segment,
                recent=tuple(recent.get(s.account_id, ())),
                reference={o: reference[o].get(s.account_id) for o in overs},
                measures={k: m.value for k, m in s.measures.items()},
                reasons=tuple(r.measure for r in s.reasons),
                days_to_renewal=(renews - as_of).days if renews else None,
                mrr=mrr,
                owner=a.get("owner"),
                name=a.get("name"),
                attributes=a,
            )
        )
    return out


def _recent_scores(
    store: Store, as_of: date, version: str, depth: int
) -> dict[str, list[float | None]]:
    dates = (
        sa.select(S.c.as_of)
        .where(S.c.version == version, S.c.as_of <= as_of)
        .distinct()
        .order_by(S.c.as_of.desc())
        .limit(depth)
    )
    days = [r["as_of"] for r in store.fetch(dates)]
    query = (
        sa.select(S.c.account_id, S.c.score)
        .where(S.c.version == version, S.c.as_of.in_(days))
        .order_by(S.c.account_id, S.c.as_of)
    )
    out: dict[str, list[float | None]] = {}
    for row in store.fetch(query):
        out.setdefault(row["account_id"], []).append(row["score"])
    return out


def _score_before(store: Store, day: date, version: str) -> dict[str, float | None]:
    """Each account's score on its latest snapshot on or before ``day``."""
    latest = (
        sa.select(S.c.account_id, sa.func.max(S.c.as_of).label("as_of"))
        .where(S.c.version == version, S.c.as_of <= day)
        .group_by(S.c.account_id)
        .subquery()
    )
    query = (
        sa.select(S.c.account_id, S.c.score)
        .join(
            latest,
            sa.and_(S.c.account_id == latest.c.account_id, S.c.as_of == latest.c.as_of),
        )
        .where(S.c.version == version)
    )
    return {r["account_id"]: r["score"] for r in store.fetch(query)}


def _billing(store: Store, as_of: date) -> dict[str, tuple[float, date | None]]:
    """account -> (MRR of line items active on as_of, their earliest end date)."""
    sub = schema.subscriptions
    query = (
        sa.select(
            sub.c.account_id,
            sa.func.sum(sub.c.mrr).label("mrr"),
            sa.func.min(sub.c.end_date).label("renews"),
        )
        .where(
            sub.c.start_date <= as_of,
            sa.or_(sub.c.end_date.is_(None), sub.c.end_date > as_of),
        )
        .group_by(sub.c.account_id)
    )
    return {
        r["account_id"]: (float(r["mrr"] or 0.0), r["renews"])
        for r in store.fetch(query)
    }


def bands_by_segment(scorecard: Scorecard) -> dict[str, list[Band]]:
    """segment -> its bands."""
    return {name: list(v.bands) for name, _, v in scorecard.variants()}
