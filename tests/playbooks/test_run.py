"""`kenko run`: load, score, apply the rules, record one run; idempotent; replays."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import factories as f
from kenko.cli.main import cli
from kenko.playbooks.actions import list_actions
from kenko.playbooks.engine import is_held_out
from kenko.playbooks.rules import parse_playbooks
from kenko.playbooks.run import (
    RunInProgressError,
    read_runs,
    run_dates,
    run_once,
    run_range,
)
from kenko.scorecard import parse_scorecard
from kenko.settings import Settings
from kenko.store import Store, schema

SETTINGS = Settings()
CARD = parse_scorecard(
    """\
name: logins
eligibility: {min_tenure: null}
groups:
  - name: Engagement
    weight: 1
    measures:
      - name: logins_28d
        events: [login]
        aggregation: count
        window: 28d
        weight: 1
        missing: zero
        scoring: {linear: {zero_at: 0, full_at: 10}}
"""
)
RULES = """\
max_data_age: 30d
people:
  alice: {email: alice@example.com, manager: carol}
  carol: {}
rules:
  - name: low
    trigger: {score_below: {threshold: 40}}
    auto_close: true
    holdout: %s
    action:
      title: "Save {name} ({score})"
      description: "{account_id} is {band}: {reasons}; logins {measures.logins_28d}"
      owner: manager_of_csm
      due_in_days: 5
      priority: high
      steps: [Review goals, Meet with a manager]
"""
DAYS = [date(2023, m, 1) for m in (2, 3, 4, 5)]


def workspace(store: Store, logins: dict[str, list[int]]) -> None:
    """Accounts owned by alice with ``logins[i]`` logins in the 28 days to DAYS[i]."""
    for account, counts in logins.items():
        f.insert(
            store,
            "accounts",
            [
                {
                    "account_id": account,
                    "name": account.upper(),
                    "owner": "alice",
                    "known_on": date(2022, 1, 1),
                }
            ],
        )
        f.subscription(store, account, start=date(2022, 1, 1))
        # The event data starts well before the first window (no measure is cut off).
        rows = [(account, "u", "signup", datetime(2022, 1, 1))]
        for day, n in zip(DAYS, counts, strict=True):
            first = datetime(day.year, day.month, day.day) - timedelta(days=10)
            rows += [
                (account, "u", "login", first + timedelta(hours=h)) for h in range(n)
            ]
        f.events(store, rows)


def tables(store: Store) -> dict[str, list[dict[str, Any]]]:
    names = ["actions", "action_history", "runs", "rule_state", "holdouts", "outbox"]
    names += ["snapshots"]
    return {
        n: sorted(store.fetch(sa.select(getattr(schema, n))), key=repr) for n in names
    }


def test_run__opens_action_with_owner_template_and_records_the_run(
    store: Store,
) -> None:
    workspace(store, {"a1": [2, 2, 2, 2], "a2": [10, 10, 10, 10]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)
    report = run_once(store, SETTINGS, CARD, pb, DAYS[0], now=datetime(2023, 2, 1, 6))
    assert (report.status, report.scored, report.opened, report.held_out) == (
        "ok",
        2,
        1,
        0,
    )
    [action] = list_actions(store)
    assert action.to_dict() == {
        "action_id": 1,
        "rule": "low",
        "account_id": "a1",
        "status": "open",
        "title": "Save A1 (20)",
        "description": "a1 is red: logins_28d; logins 2",
        "owner": "carol",
        "priority": "high",
        "steps": ["Review goals", "Meet with a manager"],
        "due_on": date(2023, 2, 6),
        "opened_on": DAYS[0],
        "opened_score": 20.0,
        "last_seen_on": DAYS[0],
        "last_score": 20.0,
        "closed_on": None,
    }
    [run] = read_runs(store)
    assert {k: run[k] for k in ("as_of", "status", "scored", "opened", "closed")} == {
        "as_of": DAYS[0],
        "status": "ok",
        "scored": 2,
        "opened": 1,
        "closed": 0,
    }
    queued = store.fetch(sa.select(schema.outbox.c.kind, schema.outbox.c.dedupe_key))
    assert queued == [{"kind": "action_opened", "dedupe_key": "action:1:opened"}]


def test_run__rerunning_a_date_changes_nothing(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 8, 2], "a2": [10, 3, 10, 10]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)
    run_range(store, SETTINGS, CARD, pb, DAYS[:3])
    before = tables(store)
    again = run_range(store, SETTINGS, CARD, pb, DAYS[:3])
    assert [r.status for r in again] == ["skipped"] * 3
    assert tables(store) == before


def test_run__range_replays_history_in_order(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 8, 2], "a2": [10, 3, 10, 10]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)
    reports = run_range(store, SETTINGS, CARD, pb, DAYS)
    assert [(r.as_of, r.opened, r.updated, r.closed) for r in reports] == [
        (DAYS[0], 1, 0, 0),
        (DAYS[1], 1, 1, 0),
        (DAYS[2], 0, 0, 2),
        (DAYS[3], 1, 0, 0),
    ]
    assert [
        (a.action_id, a.account_id, a.status, a.opened_on, a.closed_on)
        for a in list_actions(store)
    ] == [
        (1, "a1", "closed", DAYS[0], DAYS[2]),
        (2, "a2", "closed", DAYS[1], DAYS[2]),
        (3, "a1", "open", DAYS[3], None),
    ]
    assert [r["as_of"] for r in read_runs(store)] == DAYS


def test_holdout__draw_is_a_repeatable_hash_of_account_rule_and_date() -> None:
    pb = parse_playbooks(RULES % 0.3)
    rule = pb.rules[0]
    drawn = [is_held_out(rule, f"acc{i}", date(2023, 1, 1)) for i in range(2000)]
    expected = [
        int.from_bytes(
            hashlib.sha256(f"acc{i}|low|2023-01-01".encode()).digest()[:8], "big"
        )
        / 2**64
        < 0.3
        for i in range(2000)
    ]
    assert drawn == expected
    assert 540 < sum(drawn) < 660
    assert drawn != [
        is_held_out(rule, f"acc{i}", date(2023, 1, 2)) for i in range(2000)
    ]


def test_holdout__held_out_accounts_get_no_task_and_are_recorded(store: Store) -> None:
    accounts = {f"a{i}": [1, 1, 1, 1] for i in range(12)}
    workspace(store, accounts)
    pb = parse_playbooks(RULES % 0.5, scorecard=CARD.scorecard)
    held = {a for a in accounts if is_held_out(pb.rules[0], a, DAYS[0])}
    run_range(store, SETTINGS, CARD, pb, DAYS[:2])
    rows = store.fetch(sa.select(schema.holdouts.c.account_id, schema.holdouts.c.as_of))
    assert sorted((r["account_id"], r["as_of"]) for r in rows) == sorted(
        (a, DAYS[0]) for a in held
    )
    assert {a.account_id for a in list_actions(store)} == set(accounts) - held
    assert 0 < len(held) < 12


def test_run_dates__steps_by_days_weeks_and_months() -> None:
    assert run_dates(date(2023, 1, 31), date(2023, 4, 30), "1mo") == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
    ]
    assert run_dates(date(2023, 1, 1), date(2023, 1, 15), "1w") == [
        date(2023, 1, 1),
        date(2023, 1, 8),
        date(2023, 1, 15),
    ]


def test_cli__run_actions_done_dismiss_and_check(tmp_path: Any) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(cli, ["init", str(ws)]).exit_code == 0
    (ws / "scorecard.yaml").write_text(CARD.text, encoding="utf-8")
    (ws / "playbooks.yaml").write_text(RULES % 0, encoding="utf-8")
    from kenko.store import open_store

    with open_store("kenko.duckdb", ws) as store:
        workspace(store, {"a1": [2, 2, 2, 2], "a2": [1, 1, 1, 1]})

    def kenko(*args: str) -> str:
        result = runner.invoke(cli, ["-w", str(ws), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "OK — 1 rule(s), 2 person(s)" in kenko("playbooks", "check")
    out = kenko("run", "--from", "2023-02-01", "--to", "2023-03-01", "--every", "1mo")
    assert "2023-03-01" in out
    assert '"account_id": "a1"' in kenko("actions", "--open", "--format", "json")
    kenko("actions", "done", "1", "--note", "called", "--by", "alice")
    kenko("actions", "dismiss", "2", "--reason", "merger", "--by", "bob")
    csv = kenko("actions", "--format", "csv")
    assert csv.splitlines()[1].startswith("1,low,a1,done,")
    assert csv.splitlines()[2].startswith("2,low,a2,dismissed,")
    history = kenko("actions", "history", "2", "--format", "json")
    assert '"by": "bob"' in history and '"note": "merger"' in history
    bad = runner.invoke(cli, ["-w", str(ws), "actions", "done", "99"])
    assert bad.exit_code == 1 and "no action 99" in bad.output


def outbox_keys(store: Store) -> list[str]:
    return [r["dedupe_key"] for r in store.fetch(sa.select(schema.outbox))]


def test_run__replay_records_actions_but_queues_no_notification(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 8, 2], "a2": [10, 3, 10, 10]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)

    reports = run_range(store, SETTINGS, CARD, pb, DAYS, now=datetime(2024, 1, 1))

    assert [(r.opened, r.closed, r.notifications) for r in reports] == [
        (1, 0, "none (replay)"),
        (1, 0, "none (replay)"),
        (0, 2, "none (replay)"),
        (1, 0, "none (replay)"),
    ]
    assert outbox_keys(store) == []


def test_run__yesterday_is_not_a_replay_but_the_day_before_is(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 2, 2]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)

    late = run_once(store, SETTINGS, CARD, pb, DAYS[0], now=datetime(2023, 2, 2, 6))
    old = run_once(store, SETTINGS, CARD, pb, DAYS[1], now=datetime(2023, 3, 3, 6))

    assert (late.notifications, old.notifications) == ("queued", "none (replay)")
    assert outbox_keys(store) == ["action:1:opened"]


def test_run__no_notify_queues_nothing_for_a_later_run_to_send(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 2, 2], "a2": [10, 2, 10, 10]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)
    quiet = run_once(
        store, SETTINGS, CARD, pb, DAYS[0], notify=False, now=datetime(2023, 2, 1)
    )

    loud = run_once(store, SETTINGS, CARD, pb, DAYS[1], now=datetime(2023, 3, 1))

    assert (quiet.opened, quiet.notifications) == (1, "none (--no-notify)")
    assert (loud.opened, loud.notifications) == (1, "queued")
    assert outbox_keys(store) == ["action:2:opened"]


def test_run__stale_data_scores_but_opens_no_action_and_warns(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 2, 2]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)
    late = date(2023, 6, 1)  # newest event before it: 2023-04-21, 41 days old

    report = run_once(store, SETTINGS, CARD, pb, late, now=datetime(2023, 6, 1))

    warning = (
        "stale data: the newest event is from 2023-04-21, older than 30d before "
        "2023-06-01; scored, but no actions were opened, updated or closed (load "
        "fresh data, or raise max_data_age in the playbooks file)"
    )
    assert (report.status, report.scored, report.opened) == ("stale", 1, 0)
    assert report.warnings == [warning]
    [run] = read_runs(store)
    assert (run["status"], run["warnings"]) == ("stale", [warning])
    assert list_actions(store) == []
    assert outbox_keys(store) == []


def test_run__replay_judges_staleness_at_its_own_as_of_date(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 2, 2]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)

    reports = run_range(
        store,
        SETTINGS,
        CARD,
        pb,
        [DAYS[0], date(2023, 6, 15)],
        now=datetime(2025, 1, 1),
    )

    assert [(r.status, r.opened) for r in reports] == [("ok", 1), ("stale", 0)]


def test_run__second_concurrent_run_is_refused_with_a_kenko_error(store: Store) -> None:
    workspace(store, {"a1": [2, 2, 2, 2]})
    pb = parse_playbooks(RULES % 0, scorecard=CARD.scorecard)

    with store.exclusive("kenko run") as got:
        assert got is True
        with pytest.raises(RunInProgressError) as caught:
            run_once(store, SETTINGS, CARD, pb, DAYS[0])

    assert str(caught.value).startswith("another kenko run is in progress")
    assert read_runs(store) == []
    assert run_once(store, SETTINGS, CARD, pb, DAYS[0]).status == "ok"


def test_run__lock_is_held_across_connections_on_postgres(pg_server: str) -> None:
    with Store(pg_server) as one, Store(pg_server) as two:
        with one.exclusive("kenko run") as first, two.exclusive("kenko run") as second:
            assert (first, second) == (True, False)
        with two.exclusive("kenko run") as again:
            assert again is True


RENEWAL = """\
rules:
  - name: renewal
    trigger: {renewal: {within_days: 60}}
    action: {title: "Renewal of {name}"}
"""


def test_run__renewal_action_closes_once_its_renewal_date_passed(store: Store) -> None:
    f.insert(
        store,
        "accounts",
        [
            {
                "account_id": "r1",
                "name": "R1",
                "owner": "alice",
                "known_on": date(2022, 1, 1),
            }
        ],
    )
    f.subscription(store, "r1", start=date(2022, 3, 15), end=date(2023, 3, 15))
    f.subscription(store, "r1", start=date(2023, 3, 15), end=date(2024, 3, 15))
    f.events(
        store,
        [("r1", "u", "signup", datetime(2022, 1, 1))]
        + [
            ("r1", "u", "login", datetime(d.year, d.month, d.day) - timedelta(days=2))
            for d in DAYS
        ],
    )
    pb = parse_playbooks(RENEWAL, scorecard=CARD.scorecard)

    reports = run_range(store, SETTINGS, CARD, pb, DAYS[:3])

    assert [(r.opened, r.closed) for r in reports] == [(1, 0), (0, 0), (0, 1)]
    [action] = list_actions(store)
    assert (action.status, action.closed_on) == ("closed", DAYS[1] + timedelta(days=31))
    last = store.fetch(
        sa.select(schema.action_history.c.change, schema.action_history.c.note)
        .order_by(schema.action_history.c.changed_at.desc())
        .limit(1)
    )
    assert last == [{"change": "closed", "note": "renewal date passed (2023-03-15)"}]


def test_run__manager_fallback_is_noted_on_the_action_and_warned_once(
    store: Store,
) -> None:
    workspace(store, {"a1": [2, 2, 2, 2], "a2": [2, 2, 2, 2]})
    rules = RULES.replace(
        "alice: {email: alice@example.com, manager: carol}", "alice: {}"
    )
    pb = parse_playbooks(
        "fallback_owner: carol\n" + rules % 0, scorecard=CARD.scorecard
    )

    report = run_once(store, SETTINGS, CARD, pb, DAYS[0])

    why = "owner fell back to carol: CSM 'alice' has no manager under people:"
    assert report.warnings == [
        f"2 action(s) went to the fallback owner ({why}): accounts a1, a2"
    ]
    assert [a.owner for a in list_actions(store)] == ["carol", "carol"]
    notes = store.fetch(sa.select(schema.action_history.c.note))
    assert notes == [{"note": why}, {"note": why}]
