"""The daily job: load new files, score, evaluate the rules, act, notify; one run row.

A date that already has a successful run is not run again (re-running changes
nothing), nor is a date before the latest run (the rules' state has moved past it).
A range of past dates replays history in order.

A replay (a range, or an as-of date more than ``REPLAY_TOLERANCE`` before today)
records what the rules would have done but queues and sends no notification. When
the newest event is older than the as-of date minus ``max_data_age`` the run scores
but leaves the rules alone (status ``stale``). One run at a time per store: a second
one gets :class:`RunInProgressError`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.playbooks import actions as act
from kenko.playbooks import notify as notify_
from kenko.playbooks.engine import (
    Observation,
    RuleState,
    bands_by_segment,
    is_held_out,
    observe,
    step,
)
from kenko.playbooks.rules import Playbooks
from kenko.scorecard import ScorecardFile
from kenko.scores import save_snapshots, score_accounts
from kenko.settings import Settings
from kenko.store import Store, schema
from kenko.warnings import KenkoWarning

log = logging.getLogger(__name__)

R, RS = schema.runs, schema.rule_state
REPLAY_TOLERANCE = timedelta(days=1)  # a run for yesterday (a late job) is not a replay
_LOCK = "kenko run"


class RunInProgressError(KenkoError, RuntimeError):
    """Another `kenko run` holds the store."""


@dataclass
class Changes:
    """What evaluating the rules on one date did."""

    opened: list[int] = field(default_factory=list)  # action ids
    updated: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    held_out: list[tuple[str, str]] = field(default_factory=list)  # (rule, account)
    rearmed: int = 0
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (account, why)


@dataclass
class RunReport:
    """One `kenko run` date."""

    run_id: str | None
    as_of: date
    version: str | None
    status: str  # "ok" | "stale" (rules not applied) | "skipped"
    rows_loaded: int = 0
    scored: int = 0
    opened: int = 0
    updated: int = 0
    closed: int = 0
    held_out: int = 0
    notified: int = 0
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    # "queued" | "none (replay)" | "none (--no-notify)"
    notifications: str = "queued"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_dates(start: date, end: date, every: str) -> list[date]:
    """start, start + every, ... up to and including end."""
    step_ = Duration.parse(every)
    out, i = [], 0
    while (day := step_.after(start, i)) <= end:
        out.append(day)
        i += 1
    return out


def run_range(
    store: Store,
    settings: Settings,
    scorecard: ScorecardFile,
    playbooks: Playbooks,
    dates: Sequence[date],
    *,
    load_paths: Sequence[Path] = (),
    by: str = "kenko",
    notify: bool = True,
    replay: bool | None = None,
    now: datetime | None = None,
) -> list[RunReport]:
    """Run each date in order; new files are loaded once, before the first.

    ``replay`` None: each date is a replay when it is before today; the CLI passes
    True for a --from/--to range. ``notify`` False queues nothing for these runs.
    """
    with _run_lock(store):
        return [
            _run(
                store,
                settings,
                scorecard,
                playbooks,
                day,
                load_paths=load_paths if i == 0 else (),
                by=by,
                notify=notify,
                replay=replay,
                now=now,
            )
            for i, day in enumerate(sorted(dates))
        ]


def run_once(
    store: Store,
    settings: Settings,
    scorecard: ScorecardFile,
    playbooks: Playbooks,
    as_of: date,
    *,
    load_paths: Sequence[Path] = (),
    by: str = "kenko",
    notify: bool = True,
    replay: bool | None = None,
    now: datetime | None = None,
) -> RunReport:
    """Load new files, score ``as_of``, apply the rules and notify; one run row."""
    with _run_lock(store):
        return _run(
            store,
            settings,
            scorecard,
            playbooks,
            as_of,
            load_paths=load_paths,
            by=by,
            notify=notify,
            replay=replay,
            now=now,
        )


def _run(
    store: Store,
    settings: Settings,
    scorecard: ScorecardFile,
    playbooks: Playbooks,
    as_of: date,
    *,
    load_paths: Sequence[Path],
    by: str,
    notify: bool,
    replay: bool | None,
    now: datetime | None,
) -> RunReport:
    started = time.monotonic()
    moment = now or datetime.now(UTC).replace(tzinfo=None)
    latest = _latest_run(store)
    if latest is not None and as_of <= latest:
        why = "already ran" if as_of == latest else f"the rules have run to {latest}"
        log.info("run for %s skipped: %s", as_of, why)
        return RunReport(None, as_of, scorecard.version, "skipped", warnings=[why])
    if replay is None:
        replay = as_of < moment.date() - REPLAY_TOLERANCE
    queue = notify and not replay
    run_id = str(uuid.uuid4())
    report = RunReport(run_id, as_of, scorecard.version, "ok")
    if not queue:
        report.notifications = "none (replay)" if replay else "none (--no-notify)"

    # Load the files not loaded before.
    report.rows_loaded = _load_new(store, settings, load_paths)

    # Score and store the snapshot.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KenkoWarning)
        scored = score_accounts(
            store,
            scorecard.scorecard,
            as_of,
            settings,
            version=scorecard.version,
            scorecard_text=scorecard.text,
        )
    report.warnings += scored.warnings
    report.warnings += [
        str(w.message) for w in caught if str(w.message) not in report.warnings
    ]
    save_snapshots(store, scored)
    report.scored = len(scored.results)

    # Stale data: score, but let no rule act on it.
    stale = stale_data(store, as_of, playbooks.max_data_age)
    if stale is not None:
        report.status = "stale"
        report.warnings.append(stale)
        log.warning("run %s: %s", as_of, stale)

    # Rules, actions, notifications and the run row: one transaction.
    observations = (
        observe(store, playbooks, as_of, scorecard.version) if not stale else []
    )
    bands = bands_by_segment(scorecard.scorecard)
    try:
        with store.begin() as conn:
            changes = Changes()
            if stale is None:
                close_passed_renewals(
                    conn,
                    store,
                    playbooks,
                    as_of,
                    changes,
                    by=by,
                    now=moment,
                    queue=queue,
                )
                apply_rules(
                    conn,
                    store,
                    playbooks,
                    observations,
                    bands,
                    run_id=run_id,
                    by=by,
                    now=moment,
                    queue=queue,
                    changes=changes,
                )
            if changes.fallbacks:
                report.warnings.append(_fallback_warning(changes.fallbacks))
                log.warning("run %s: %s", as_of, report.warnings[-1])
            report.opened, report.updated = len(changes.opened), len(changes.updated)
            report.closed, report.held_out = len(changes.closed), len(changes.held_out)
            report.duration_s = round(time.monotonic() - started, 3)
            conn.execute(R.insert().values(**_run_row(report, moment)))
    except sa.exc.IntegrityError as exc:
        # Only another run writing the same rows at the same time gets here.
        raise RunInProgressError(
            f"another kenko run changed the store while the run for {as_of} was "
            "writing; nothing of this run was saved",
            fix="run again once the other run has finished",
        ) from exc

    # Deliver what is due (this run's and earlier failures).
    if queue:
        delivered = notify_.deliver_pending(store, settings, now=moment)
        report.notified = delivered.sent
        with store.begin() as conn:
            conn.execute(
                R.update().where(R.c.run_id == run_id).values(notified=delivered.sent)
            )
    log.info(
        "run %s: %d scored, %d actions opened, %d updated, %d closed, %d held out",
        as_of,
        report.scored,
        report.opened,
        report.updated,
        report.closed,
        report.held_out,
    )
    return report


@contextmanager
def _run_lock(store: Store) -> Iterator[None]:
    with store.exclusive(_LOCK) as got:
        if not got:
            raise RunInProgressError(
                "another kenko run is in progress on this store",
                fix="wait for it to finish; a scheduler should not start runs that "
                "overlap",
            )
        yield


def stale_data(store: Store, as_of: date, max_age: str) -> str | None:
    """Why the data is too old to act on at ``as_of``, or None when it is fresh.

    Only events before ``as_of`` count, so a replay is judged at its own date.
    """
    E = schema.events
    instant = datetime(as_of.year, as_of.month, as_of.day)
    newest = store.fetch(
        sa.select(sa.func.max(E.c.ts).label("ts")).where(E.c.ts < instant)
    )[0]["ts"]
    oldest_fresh = Duration.parse(max_age).before(instant)
    if newest is not None and newest >= oldest_fresh:
        return None
    seen = f"the newest event is from {newest:%Y-%m-%d}" if newest else "no events"
    return (
        f"stale data: {seen}, older than {max_age} before {as_of}; scored, but no "
        "actions were opened, updated or closed (load fresh data, or raise "
        "max_data_age in the playbooks file)"
    )


def close_passed_renewals(
    conn: sa.Connection,
    store: Store,
    playbooks: Playbooks,
    as_of: date,
    changes: Changes,
    *,
    by: str,
    now: datetime,
    queue: bool = True,
) -> None:
    """Close open actions of renewal rules whose renewal date is on or before as_of.

    The renewal an action is about is the earliest end among the account's line
    items active on the day it opened (an end date is the first day not covered).
    """
    names = [r.name for r in playbooks.rules if r.trigger.renewal]
    if not names:
        return
    A, sub = schema.actions, schema.subscriptions
    open_ = conn.execute(
        sa.select(A.c.action_id, A.c.account_id, A.c.opened_on).where(
            A.c.status == act.OPEN, A.c.rule.in_(names)
        )
    ).all()
    for action in open_:
        renewal = conn.execute(
            sa.select(sa.func.min(sub.c.end_date)).where(
                sub.c.account_id == action.account_id,
                sub.c.start_date <= action.opened_on,
                sub.c.end_date > action.opened_on,
            )
        ).scalar()
        if renewal is None or renewal > as_of:
            continue
        act.close_renewed(conn, action.action_id, renewal, as_of, by=by, now=now)
        conn.execute(
            RS.update()
            .where(RS.c.action_id == action.action_id)
            .values(action_id=None, armed=True)
        )
        changes.closed.append(action.action_id)
        if queue:
            _notify(conn, store, "action_closed", _read_action(conn, action.action_id))


def _fallback_warning(fallbacks: Sequence[tuple[str, str]]) -> str:
    """One line: how many, why, and the first few accounts (the rest are in history)."""
    reasons = sorted({why for _, why in fallbacks})
    shown = ", ".join(account for account, _ in fallbacks[:5])
    more = f" and {len(fallbacks) - 5} more" if len(fallbacks) > 5 else ""
    return (
        f"{len(fallbacks)} action(s) went to the fallback owner ({'; '.join(reasons)}):"
        f" accounts {shown}{more}"
    )


def apply_rules(
    conn: sa.Connection,
    store: Store,
    playbooks: Playbooks,
    observations: Sequence[Observation],
    bands: dict[str, list[Any]],
    *,
    run_id: str,
    by: str,
    now: datetime,
    queue: bool = True,
    changes: Changes | None = None,
) -> Changes:
    """Step every rule for every observed account and write what it decides.

    ``queue`` False records the actions but queues no notification for them.
    """
    changes = changes if changes is not None else Changes()
    states = _states(conn)
    for rule in playbooks.rules:
        for obs in observations:
            before = states.get((rule.name, obs.account_id), RuleState())
            held = is_held_out(rule, obs.account_id, obs.as_of)
            segment_bands = bands.get(obs.segment) or bands.get("default") or []
            after, steps = step(rule, obs, before, segment_bands, held_out=held)
            for what in steps:
                if what == "open":
                    record = act.open_action(
                        conn, rule, obs, playbooks, run_id=run_id, by=by, now=now
                    )
                    after = _with_action(after, record.action_id)
                    changes.opened.append(record.action_id)
                    if record.fallback is not None:
                        changes.fallbacks.append((obs.account_id, record.fallback))
                    if queue:
                        _notify(conn, store, "action_opened", record)
                elif what == "update" and before.action_id is not None:
                    act.update_action(conn, before.action_id, obs, by=by, now=now)
                    changes.updated.append(before.action_id)
                elif what == "close" and before.action_id is not None:
                    act.close_action(conn, before.action_id, obs, by=by, now=now)
                    changes.closed.append(before.action_id)
                    if queue:
                        record = _read_action(conn, before.action_id)
                        _notify(conn, store, "action_closed", record)
                elif what == "hold_out":
                    conn.execute(
                        schema.holdouts.insert().values(
                            rule=rule.name,
                            account_id=obs.account_id,
                            as_of=obs.as_of,
                            score=obs.score,
                            run_id=run_id,
                        )
                    )
                    changes.held_out.append((rule.name, obs.account_id))
                elif what == "rearm":
                    changes.rearmed += 1
            if after != before:
                new = (rule.name, obs.account_id) not in states
                _save_state(conn, rule.name, obs.account_id, after, new=new)
    return changes


def _with_action(state: RuleState, action_id: int) -> RuleState:
    return RuleState(state.armed, state.fired_on, state.fired_score, action_id)


def _states(conn: sa.Connection) -> dict[tuple[str, str], RuleState]:
    return {
        (r.rule, r.account_id): RuleState(
            bool(r.armed), r.fired_on, r.fired_score, r.action_id
        )
        for r in conn.execute(sa.select(RS))
    }


def _save_state(
    conn: sa.Connection, rule: str, account_id: str, state: RuleState, *, new: bool
) -> None:
    values = {
        "armed": state.armed,
        "fired_on": state.fired_on,
        "fired_score": state.fired_score,
        "action_id": state.action_id,
    }
    if new:
        conn.execute(RS.insert().values(rule=rule, account_id=account_id, **values))
    else:
        conn.execute(
            RS.update()
            .where(RS.c.rule == rule, RS.c.account_id == account_id)
            .values(**values)
        )


def _read_action(conn: sa.Connection, action_id: int) -> act.ActionRecord:
    row = conn.execute(
        sa.select(schema.actions).where(schema.actions.c.action_id == action_id)
    ).one()
    return act._record(dict(row._mapping))


def _notify(
    conn: sa.Connection, store: Store, kind: str, record: act.ActionRecord
) -> None:
    verb = "opened" if kind == "action_opened" else "closed"
    payload = record.to_dict() | {
        "text": f"Action {record.action_id} {verb} for account {record.account_id}: "
        f"{record.title} (owner {record.owner or 'unassigned'}, due {record.due_on})",
        "subject": f"[kenko] {record.title}",
    }
    notify_.enqueue(
        conn, store, kind, payload, dedupe_key=f"action:{record.action_id}:{verb}"
    )


def _latest_run(store: Store) -> date | None:
    rows = store.fetch(sa.select(sa.func.max(R.c.as_of).label("d")))
    latest: date | None = rows[0]["d"]
    return latest


def _load_new(store: Store, settings: Settings, paths: Sequence[Path]) -> int:
    """Load the files whose content was never loaded before; rows accepted."""
    if not paths:
        return 0
    from kenko.load import load_files
    from kenko.load.files import sha256_of

    known = {r["sha256"] for r in store.fetch(sa.select(schema.loads.c.sha256))}
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise KenkoError(
            f"data file {missing[0]} does not exist",
            fix="check the `data` setting in kenko.yaml",
        )
    new = [p for p in paths if sha256_of(Path(p)) not in known]
    reports = load_files(store, settings, new) if new else []
    return sum(r.accepted for r in reports)


def _run_row(report: RunReport, started: datetime) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "as_of": report.as_of,
        "version": report.version,
        "started_at": started,
        "duration_s": report.duration_s,
        "status": report.status,
        "rows_loaded": report.rows_loaded,
        "scored": report.scored,
        "opened": report.opened,
        "updated": report.updated,
        "closed": report.closed,
        "held_out": report.held_out,
        "notified": report.notified,
        "warnings": json.dumps(report.warnings),
    }


def read_runs(store: Store) -> list[dict[str, Any]]:
    """Every recorded run, oldest as-of first."""
    rows = store.fetch(sa.select(R).order_by(R.c.as_of))
    for r in rows:
        r["warnings"] = json.loads(r["warnings"])
    return rows
