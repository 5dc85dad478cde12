"""Whether a playbook helps: retention and score recovery, actioned vs held out."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import factories as f
from kenko.playbooks.effectiveness import effectiveness, wilson
from kenko.playbooks.engine import is_held_out, observe
from kenko.playbooks.rules import parse_playbooks
from kenko.playbooks.run import apply_rules
from kenko.scorecard.model import DEFAULT_BANDS
from kenko.settings import Settings
from kenko.store import Store, schema

V = "v1"
TRIGGER, LATER = date(2023, 1, 1), date(2023, 5, 1)
SETTINGS = Settings.model_validate({"validation": {"data_end": "2024-01-01"}})
RULES = parse_playbooks(
    """\
people: {ops: {}}
rules:
  - name: low
    trigger: {score_below: {threshold: 40}}
    holdout: 0.5
    action: {title: "Call {account_id}", owner: ops}
"""
)


def snap(store: Store, account: str, day: date, score: float) -> None:
    with store.begin() as conn:
        conn.execute(
            schema.snapshots.insert().values(
                account_id=account,
                as_of=day,
                version=V,
                segment="default",
                score=score,
                band="red" if score < 40 else "green",
                status="scored",
                coverage=1.0,
                groups="{}",
                reasons="[]",
                computed_at=datetime(2024, 1, 1),
            )
        )


def test_wilson__matches_the_textbook_interval() -> None:
    low, high = wilson(8, 10) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson(0, 0) is None


def test_effectiveness__compares_actioned_with_held_out_accounts(store: Store) -> None:
    accounts = [f"a{i}" for i in range(10)]
    churners = {"a0", "a1", "a2"}
    recovered = {"a3", "a4", "a5", "a6"}
    for a in accounts:
        f.account(
            store,
            a,
            start=date(2022, 1, 1),
            end=date(2023, 3, 1) if a in churners else None,
        )
        snap(store, a, TRIGGER, 20)
        if a not in churners:
            snap(store, a, LATER, 70 if a in recovered else 15)
    with store.begin() as conn:
        apply_rules(
            conn,
            store,
            RULES,
            observe(store, RULES, TRIGGER, V),
            {"default": list(DEFAULT_BANDS)},
            run_id="r1",
            by="kenko",
            now=datetime(2023, 1, 1, 6),
        )

    report = effectiveness(store, SETTINGS, "180d", version=V)

    held = {a for a in accounts if is_held_out(RULES.rules[0], a, TRIGGER)}
    assert 0 < len(held) < len(accounts)
    groups = {"actioned": set(accounts) - held, "held_out": held}
    got = {r.group: r for r in report.rows}
    assert sorted(got) == ["actioned", "held_out"]
    for name, members in groups.items():
        row = got[name]
        retained = len(members - churners)
        improved = len(members & recovered)
        assert (row.rule, row.triggered, row.with_outcome, row.censored) == (
            "low",
            len(members),
            len(members),
            0,
        )
        assert (row.retained, row.improved) == (retained, improved)
        assert row.retention == pytest.approx(retained / len(members))
        interval = wilson(retained, len(members))
        assert (row.retention_low, row.retention_high) == interval
        changes = [
            50.0 if a in recovered else 0.0 if a in churners else -5.0 for a in members
        ]
        assert row.mean_change == round(sum(changes) / len(changes), 1)
    assert report.warnings == [
        f"low: only {len(held)} held-out account(s) with outcomes; the comparison "
        "is not reliable yet"
    ]
