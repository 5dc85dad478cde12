"""Replaying the crm6 example's playbooks over the first half of 2023 (DuckDB).

The low-score rule's triggers are re-derived here from the stored snapshots with a
plain loop (red on two snapshots in a row, re-armed at 45), independently of the
engine's state table.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from conftest import CRM6, REPO
from kenko.load import load_files
from kenko.playbooks.actions import list_actions
from kenko.playbooks.engine import is_held_out
from kenko.playbooks.rules import Playbooks, read_playbooks
from kenko.playbooks.run import RunReport, run_range
from kenko.scorecard import ScorecardFile, read_scorecard
from kenko.settings import Settings
from kenko.store import Store, open_store, schema

pytestmark = pytest.mark.crm6
EXAMPLE = REPO / "examples" / "crm6"
DATES = [date(2022, 12, 1)] + [date(2023, m, 1) for m in range(1, 7)]


Replayed = tuple[Store, Settings, ScorecardFile, Playbooks, list[RunReport]]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("crm6_playbooks"))
    files = [CRM6 / "accounts.csv", CRM6 / "subscriptions.csv", CRM6 / "events.parquet"]
    load_files(store, settings, files)
    sc = read_scorecard(EXAMPLE / "scorecard.yaml")
    pb = read_playbooks(EXAMPLE / "playbooks.yaml", sc.scorecard)
    reports = run_range(store, settings, sc, pb, DATES, notify=False)
    yield store, settings, sc, pb, reports
    store.close()


def test_crm6_replay__opens_the_same_actions_every_time(replayed: Replayed) -> None:
    store, _, _, _, reports = replayed
    # The first date can only open renewal-at-risk actions (the other rules need
    # earlier snapshots); crm6 plans renew every billing period, so all 55 close
    # with "renewal date passed" by the next monthly run.
    assert [(r.opened, r.updated, r.closed, r.held_out) for r in reports] == [
        (55, 0, 0, 0),
        (72, 0, 55, 7),
        (68, 43, 18, 2),
        (34, 38, 64, 0),
        (63, 36, 31, 3),
        (46, 45, 54, 2),
        (63, 51, 34, 3),
    ]
    opened = Counter(a.rule for a in list_actions(store) if a.opened_on.year == 2023)
    # renewal-at-risk re-arms once a renewal passes, and monthly plans renew every
    # month, so a not-green monthly account gets one such action a month.
    assert opened == {"low-score": 99, "sharp-drop": 80, "renewal-at-risk": 167}


def test_crm6_replay__low_score_triggers_match_an_independent_derivation(
    replayed: Replayed,
) -> None:
    store, _, sc, pb, _ = replayed
    rule = pb.rule("low-score")
    snaps = pd.DataFrame(
        store.fetch(
            sa.select(
                schema.snapshots.c.account_id,
                schema.snapshots.c.as_of,
                schema.snapshots.c.score,
            ).where(schema.snapshots.c.version == sc.version)
        )
    ).sort_values(["account_id", "as_of"])
    expected = set()
    for account, part in snaps.groupby("account_id"):
        armed, previous = True, None
        for day, score in zip(part["as_of"], part["score"], strict=True):
            if pd.isna(score):
                previous = None
                continue
            if not armed and score >= 45:
                armed = True
            elif armed and score < 40 and previous is not None and previous < 40:
                expected.add((account, day))
                armed = False
            previous = score
    acted = {
        (a.account_id, a.opened_on)
        for a in list_actions(store)
        if a.rule == "low-score"
    }
    held = {
        (r["account_id"], r["as_of"])
        for r in store.fetch(
            sa.select(schema.holdouts.c.account_id, schema.holdouts.c.as_of)
        )
    }
    assert acted | held == expected
    assert acted & held == set()
    assert held == {(a, d) for a, d in expected if is_held_out(rule, a, d)}


def test_crm6_replay__never_two_open_actions_per_account_and_rule(
    replayed: Replayed,
) -> None:
    store = replayed[0]
    spans: dict[tuple[str, str], list[tuple[date, date]]] = {}
    for a in list_actions(store):
        end = a.closed_on or date.max
        spans.setdefault((a.rule, a.account_id), []).append((a.opened_on, end))
    for found in spans.values():
        found.sort()
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(found))


def test_crm6_replay__rerunning_the_range_changes_nothing(replayed: Replayed) -> None:
    store, settings, sc, pb, _ = replayed
    before = store.fetch(sa.select(schema.actions).order_by(schema.actions.c.action_id))
    again = run_range(store, settings, sc, pb, DATES, notify=False)
    assert {r.status for r in again} == {"skipped"}
    assert (
        store.fetch(sa.select(schema.actions).order_by(schema.actions.c.action_id))
        == before
    )
