"""Opening, updating and closing actions: exact sequences for score series.

Snapshots go straight into the store's snapshot tables; the rules then run on each
date in order, as `kenko run` does after scoring.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

import factories as f
from kenko.playbooks.actions import (
    ActionStateError,
    action_history,
    dismiss,
    list_actions,
    mark_done,
)
from kenko.playbooks.engine import observe
from kenko.playbooks.rules import Playbooks, parse_playbooks
from kenko.playbooks.run import Changes, apply_rules
from kenko.scorecard.model import DEFAULT_BANDS
from kenko.store import Store, schema

V = "v1"
NOW = datetime(2024, 1, 1, 12, 0)
DAYS = [date(2023, m, 1) for m in range(1, 13)]


def rules(trigger: str, **extra: Any) -> Playbooks:
    lines = [f"    {k}: {v}" for k, v in extra.items()]
    text = "\n".join(
        [
            "people: {ops: {}}",
            "rules:",
            "  - name: r",
            f"    trigger: {trigger}",
            *lines,
            "    action: {title: 'Call {account_id} ({score})', owner: ops}",
        ]
    )
    return parse_playbooks(text)


def snap(
    store: Store,
    account: str,
    day: date,
    score: float | None,
    measures: dict[str, float | None] | None = None,
) -> None:
    band = None
    if score is not None:
        band = "red" if score < 40 else "yellow" if score < 70 else "green"
    with store.begin() as conn:
        conn.execute(
            schema.snapshots.insert().values(
                account_id=account,
                as_of=day,
                version=V,
                segment="default",
                score=score,
                band=band,
                status="scored" if score is not None else "insufficient_data",
                coverage=1.0,
                groups="{}",
                reasons="[]",
                computed_at=NOW,
            )
        )
        for name, value in (measures or {}).items():
            conn.execute(
                schema.snapshot_measures.insert().values(
                    account_id=account,
                    as_of=day,
                    version=V,
                    measure=name,
                    group_name="G",
                    value=value,
                    weight=1.0,
                )
            )


def evaluate(store: Store, pb: Playbooks, day: date) -> Changes:
    observations = observe(store, pb, day, V)
    with store.begin() as conn:
        return apply_rules(
            conn,
            store,
            pb,
            observations,
            {"default": list(DEFAULT_BANDS)},
            run_id=f"run-{day}",
            by="kenko",
            now=NOW,
        )


def replay(
    store: Store, pb: Playbooks, scores: list[float | None], account: str = "a"
) -> list[tuple[int, int, str]]:
    """(date index, action id, change) of every action change, in order."""
    for day, score in zip(DAYS, scores, strict=False):
        snap(store, account, day, score)
        evaluate(store, pb, day)
    return history(store)


def history(store: Store) -> list[tuple[int, int, str]]:
    h = schema.action_history
    rows = store.fetch(
        sa.select(h.c.as_of, h.c.action_id, h.c.change).order_by(
            h.c.changed_at, h.c.as_of, h.c.action_id
        )
    )
    # Changes people make carry no as-of date: -1.
    return [
        (DAYS.index(r["as_of"]) if r["as_of"] else -1, r["action_id"], r["change"])
        for r in rows
    ]


LOW = "{score_below: {threshold: 40}}"


def test_sequence__dip_and_recovery_opens_once_and_auto_closes(store: Store) -> None:
    pb = rules(LOW, auto_close="true")
    assert replay(store, pb, [60, 35, 30, 50, 60]) == [
        (1, 1, "opened"),
        (2, 1, "updated"),
        (3, 1, "closed"),
    ]
    [action] = list_actions(store)
    assert (action.status, action.opened_on, action.closed_on) == (
        "closed",
        DAYS[1],
        DAYS[3],
    )
    assert action.title == "Call a (35)"


def test_sequence__hovering_at_the_line_does_not_flap(store: Store) -> None:
    pb = rules(LOW, auto_close="true", rearm_margin=5)
    assert replay(store, pb, [39, 41, 38, 43, 39, 46, 38]) == [
        (0, 1, "opened"),
        (2, 1, "updated"),
        (4, 1, "updated"),
        (5, 1, "closed"),
        (6, 2, "opened"),
    ]


def test_sequence__staying_down_keeps_one_action_open(store: Store) -> None:
    pb = rules(LOW, auto_close="true")
    assert replay(store, pb, [30, 30, 25, 30]) == [
        (0, 1, "opened"),
        (1, 1, "updated"),
        (2, 1, "updated"),
        (3, 1, "updated"),
    ]
    assert [(a.status, a.last_score) for a in list_actions(store)] == [("open", 30)]


def test_sequence__insufficient_data_neither_triggers_nor_recovers(
    store: Store,
) -> None:
    pb = rules(LOW, auto_close="true")
    assert replay(store, pb, [None, 30, None, 50]) == [
        (1, 1, "opened"),
        (3, 1, "closed"),
    ]


def test_sequence__consecutive_snapshots_must_all_be_below(store: Store) -> None:
    pb = rules("{score_below: {threshold: 40, snapshots: 2}}")
    assert replay(store, pb, [35, 50, 35, None, 35, 35]) == [(5, 1, "opened")]


def test_sequence__without_auto_close_a_new_firing_updates_the_open_action(
    store: Store,
) -> None:
    pb = rules(LOW)
    assert replay(store, pb, [30, 50, 30]) == [(0, 1, "opened"), (2, 1, "updated")]


def test_sequence__cooldown_waits_after_the_previous_action(store: Store) -> None:
    pb = rules(LOW, auto_close="true", cooldown="3mo")
    assert replay(store, pb, [30, 50, 30, 30, 30]) == [
        (0, 1, "opened"),
        (1, 1, "closed"),
        (3, 2, "opened"),
        (4, 2, "updated"),
    ]


def test_sequence__done_action_is_not_reopened_until_recovery(store: Store) -> None:
    pb = rules(LOW)
    replay(store, pb, [30])
    mark_done(store, 1, by="alice", note="called them")
    for i, score in [(1, 30), (2, 50), (3, 30)]:
        snap(store, "a", DAYS[i], score)
        evaluate(store, pb, DAYS[i])
    assert history(store) == [(0, 1, "opened"), (3, 2, "opened"), (-1, 1, "done")]
    assert [(a.action_id, a.status) for a in list_actions(store)] == [
        (1, "done"),
        (2, "open"),
    ]


def test_sequence__drop_over_a_period(store: Store) -> None:
    pb = rules("{drop: {points: 20, over: 2mo}}", auto_close="true")
    assert replay(store, pb, [80, 75, 58, 50, 64, 70]) == [
        (2, 1, "opened"),
        (3, 1, "updated"),
        (4, 1, "closed"),
    ]


def test_sequence__entering_a_band_reopens_only_after_leaving_it(
    store: Store,
) -> None:
    pb = rules("{enters_band: {band: red}}", auto_close="true")
    assert replay(store, pb, [50, 39, 42, 20, 46, 39]) == [
        (1, 1, "opened"),
        (3, 1, "updated"),
        (4, 1, "closed"),
        (5, 2, "opened"),
    ]


def test_sequence__measure_condition_with_margin(store: Store) -> None:
    pb = rules(
        "{measure: {measure: days_since_login, op: '>=', value: 14}}",
        auto_close="true",
        rearm_margin=4,
    )
    for i, days in enumerate([3, 14, 12, 9, 20]):
        snap(store, "a", DAYS[i], 60, {"days_since_login": days})
        evaluate(store, pb, DAYS[i])
    assert history(store) == [(1, 1, "opened"), (3, 1, "closed"), (4, 2, "opened")]


def test_sequence__renewal_within_days_while_not_green(store: Store) -> None:
    f.account(store, "a", start=date(2022, 6, 1), end=date(2023, 6, 1))
    f.subscription(store, "a", start=date(2023, 6, 1), end=date(2024, 6, 1))
    pb = rules("{renewal: {within_days: 100}}", auto_close="true")
    # From Mar 1 the renewal (Jun 1, 92 days) is within 100 days; Apr is green
    # (80 >= 70 + margin 5) so it re-arms; from Jun the next renewal is a year off.
    scores = [60, 60, 50, 80, 60, 60, 60]
    assert replay(store, pb, scores) == [
        (2, 1, "opened"),
        (3, 1, "closed"),
        (4, 2, "opened"),
        (5, 2, "closed"),
    ]


def test_limits__segment_attribute_mrr_and_owner(store: Store) -> None:
    f.account(store, "big", mrr=900.0, attributes={"tier": "enterprise"})
    f.account(store, "small", mrr=90.0, attributes={"tier": "enterprise"})
    f.account(store, "smb", mrr=900.0, attributes={"tier": "smb"})
    pb = rules(LOW, where="{attributes: {tier: enterprise}, mrr_min: 500}")
    for account in ("big", "small", "smb"):
        snap(store, account, DAYS[0], 20)
    evaluate(store, pb, DAYS[0])
    assert [a.account_id for a in list_actions(store)] == ["big"]
    owners = rules(LOW, where="{owner: [alice]}")
    assert evaluate(store, owners, DAYS[0]).opened == []


def test_actions__done_and_dismiss_are_kept_in_history_with_who(
    store: Store,
) -> None:
    pb = rules(LOW)
    for account in ("a", "b"):
        snap(store, account, DAYS[0], 20)
    evaluate(store, pb, DAYS[0])
    mark_done(store, 1, by="alice", note="met the CFO")
    dismiss(store, 2, by="bob", reason="customer is in a merger")
    assert [(r["change"], r["by"], r["note"]) for r in action_history(store, 2)] == [
        ("opened", "kenko", None),
        ("dismissed", "bob", "customer is in a merger"),
    ]
    assert [a.status for a in list_actions(store)] == ["done", "dismissed"]
    assert list_actions(store, open_only=True) == []
    assert [a.account_id for a in list_actions(store, account="b")] == ["b"]
    assert [a.owner for a in list_actions(store, owner="ops")] == ["ops", "ops"]
    with pytest.raises(ActionStateError, match="already done"):
        mark_done(store, 1, by="alice")
    with pytest.raises(ActionStateError, match="needs a reason"):
        dismiss(store, 2, by="bob", reason=" ")
