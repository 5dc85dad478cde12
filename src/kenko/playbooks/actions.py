"""Actions: the tasks rules open, their owners, and every change to them.

Runs open, update and close actions (inside the run's transaction); people mark them
done or dismiss them. Every change is a row in ``action_history`` with who and when.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from kenko.errors import KenkoError
from kenko.playbooks.engine import Observation
from kenko.playbooks.rules import Playbooks, Rule
from kenko.playbooks.template import render
from kenko.store import Store, schema

log = logging.getLogger(__name__)

A, H = schema.actions, schema.action_history
OPEN = "open"


class UnknownActionError(KenkoError, LookupError):
    """An action id the store does not hold."""


class ActionStateError(KenkoError, ValueError):
    """A change an action's status does not allow (e.g. finishing a closed one)."""


@dataclass
class ActionRecord:
    """One action as stored."""

    action_id: int
    rule: str
    account_id: str
    status: str  # open | done | dismissed | closed (auto-closed on recovery)
    title: str
    description: str
    owner: str | None
    priority: str
    steps: list[str]
    due_on: date
    opened_on: date
    opened_score: float | None
    last_seen_on: date
    last_score: float | None
    closed_on: date | None
    # Why the fallback owner was used (set by open_action only; not stored here,
    # it is the note of the "opened" history row).
    fallback: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["fallback"]
        return out


def resolve_owner(spec: str, csm: str | None, playbooks: Playbooks) -> str | None:
    """Who an action goes to: the CSM, the CSM's manager or a named person."""
    return assign_owner(spec, csm, playbooks)[0]


def assign_owner(
    spec: str, csm: str | None, playbooks: Playbooks
) -> tuple[str | None, str | None]:
    """(owner, why the fallback owner was used, or None when it was not)."""
    if spec == "csm":
        who, missing = csm, "the account has no CSM"
    elif spec == "manager_of_csm":
        person = playbooks.people.get(csm) if csm else None
        who = person.manager if person else None
        missing = (
            f"CSM {csm!r} has no manager under people:"
            if csm
            else "the account has no CSM"
        )
    else:
        who, missing = spec, ""
    if who:
        return who, None
    return (
        playbooks.fallback_owner,
        f"owner fell back to {playbooks.fallback_owner}: {missing}",
    )


def template_values(rule: Rule, obs: Observation, owner: str | None) -> dict[str, Any]:
    """The values an action's title and description may show."""
    values: dict[str, Any] = {
        "account_id": obs.account_id,
        "name": obs.name,
        "owner": owner,
        "score": obs.score,
        "band": obs.band,
        "segment": obs.segment,
        "reasons": ", ".join(obs.reasons) or "none",
        "as_of": obs.as_of.isoformat(),
        "rule": rule.name,
        "mrr": obs.mrr,
        "days_to_renewal": obs.days_to_renewal,
    }
    values.update({f"measures.{k}": v for k, v in obs.measures.items()})
    return values


# -- changes a run makes (inside its transaction) ------------------------------------


def open_action(
    conn: sa.Connection,
    rule: Rule,
    obs: Observation,
    playbooks: Playbooks,
    *,
    run_id: str,
    by: str,
    now: datetime,
) -> ActionRecord:
    """Create an action for a rule that fired on an account."""
    owner, fallback = assign_owner(rule.action.owner, obs.owner, playbooks)
    values = template_values(rule, obs, owner)
    next_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(A.c.action_id), 0)))
    record = ActionRecord(
        action_id=int(next_id.scalar_one()) + 1,
        rule=rule.name,
        account_id=obs.account_id,
        status=OPEN,
        title=render(rule.action.title, values),
        description=render(rule.action.description, values),
        owner=owner,
        priority=rule.action.priority,
        steps=list(rule.action.steps),
        due_on=obs.as_of + timedelta(days=rule.action.due_in_days),
        opened_on=obs.as_of,
        opened_score=obs.score,
        last_seen_on=obs.as_of,
        last_score=obs.score,
        closed_on=None,
    )
    row = record.to_dict() | {"steps": json.dumps(record.steps), "run_id": run_id}
    conn.execute(A.insert().values(**row))
    _history(conn, record.action_id, "opened", by, now, as_of=obs.as_of, note=fallback)
    if fallback is not None:
        record.fallback = fallback
    return record


def update_action(
    conn: sa.Connection, action_id: int, obs: Observation, *, by: str, now: datetime
) -> None:
    """Note that the rule still fires on the account, with today's score."""
    conn.execute(
        A.update()
        .where(A.c.action_id == action_id)
        .values(last_seen_on=obs.as_of, last_score=obs.score)
    )
    _history(conn, action_id, "updated", by, now, as_of=obs.as_of, note=_score(obs))


def close_renewed(
    conn: sa.Connection,
    action_id: int,
    renewal: date,
    as_of: date,
    *,
    by: str,
    now: datetime,
) -> None:
    """Close an open renewal action once its renewal date has passed."""
    conn.execute(
        A.update()
        .where(A.c.action_id == action_id, A.c.status == OPEN)
        .values(status="closed", closed_on=as_of)
    )
    note = f"renewal date passed ({renewal.isoformat()})"
    _history(conn, action_id, "closed", by, now, as_of=as_of, note=note)


def close_action(
    conn: sa.Connection, action_id: int, obs: Observation, *, by: str, now: datetime
) -> None:
    """Close an open action because the account recovered."""
    conn.execute(
        A.update()
        .where(A.c.action_id == action_id, A.c.status == OPEN)
        .values(status="closed", closed_on=obs.as_of, last_score=obs.score)
    )
    note = f"recovered: {_score(obs)}"
    _history(conn, action_id, "closed", by, now, as_of=obs.as_of, note=note)


def _score(obs: Observation) -> str:
    return f"score {obs.score:g}" if obs.score is not None else "no score"


def _history(
    conn: sa.Connection,
    action_id: int,
    change: str,
    by: str,
    now: datetime,
    *,
    as_of: date | None = None,
    note: str | None = None,
) -> None:
    conn.execute(
        H.insert().values(
            action_id=action_id,
            changed_at=now,
            changed_by=by,
            change=change,
            as_of=as_of,
            note=note,
        )
    )


# -- reads and changes people make ----------------------------------------------------


def list_actions(
    store: Store,
    *,
    open_only: bool = False,
    owner: str | None = None,
    account: str | None = None,
) -> list[ActionRecord]:
    """Actions, oldest first; optionally only open ones, or one owner or account."""
    query = sa.select(A).order_by(A.c.action_id)
    if open_only:
        query = query.where(A.c.status == OPEN)
    if owner is not None:
        query = query.where(A.c.owner == owner)
    if account is not None:
        query = query.where(A.c.account_id == account)
    return [_record(r) for r in store.fetch(query)]


def get_action(store: Store, action_id: int) -> ActionRecord:
    rows = store.fetch(sa.select(A).where(A.c.action_id == action_id))
    if not rows:
        raise UnknownActionError(
            f"no action {action_id}", fix="list them with `kenko actions`"
        )
    return _record(rows[0])


def action_history(store: Store, action_id: int) -> list[dict[str, Any]]:
    """Every change to one action, oldest first."""
    get_action(store, action_id)
    query = (
        sa.select(
            H.c.changed_at.label("at"),
            H.c.changed_by.label("by"),
            H.c.change,
            H.c.as_of,
            H.c.note,
        )
        .where(H.c.action_id == action_id)
        .order_by(H.c.changed_at, H.c.change)
    )
    return store.fetch(query)


def mark_done(
    store: Store,
    action_id: int,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> ActionRecord:
    """Finish an open action."""
    return _finish(store, action_id, "done", by=by, note=note, now=now)


def dismiss(
    store: Store,
    action_id: int,
    *,
    by: str,
    reason: str,
    now: datetime | None = None,
) -> ActionRecord:
    """Dismiss an open action, saying why."""
    if not reason.strip():
        raise ActionStateError(
            "a dismissal needs a reason", fix="pass --reason 'why it is not needed'"
        )
    return _finish(store, action_id, "dismissed", by=by, note=reason, now=now)


def _finish(
    store: Store,
    action_id: int,
    status: str,
    *,
    by: str,
    note: str | None,
    now: datetime | None,
) -> ActionRecord:
    if not by.strip():
        raise ActionStateError(
            "who changed the action is empty", fix="pass --by NAME, or leave it out"
        )
    moment = now or datetime.now(UTC).replace(tzinfo=None)
    action = get_action(store, action_id)
    if action.status != OPEN:
        raise ActionStateError(
            f"action {action_id} is already {action.status}",
            fix="only open actions can be marked done or dismissed",
        )
    with store.begin() as conn:
        conn.execute(
            A.update()
            .where(A.c.action_id == action_id)
            .values(status=status, closed_on=moment.date())
        )
        # The rule stays disarmed until the account recovers; it just has no task.
        conn.execute(
            schema.rule_state.update()
            .where(schema.rule_state.c.action_id == action_id)
            .values(action_id=None)
        )
        _history(conn, action_id, status, by, moment, note=note)
    log.info("action %d %s by %s", action_id, status, by)
    return get_action(store, action_id)


def _record(row: dict[str, Any]) -> ActionRecord:
    fields = {k: row[k] for k in ActionRecord.__dataclass_fields__ if k != "fallback"}
    fields["steps"] = json.loads(row["steps"])
    return ActionRecord(**fields)
