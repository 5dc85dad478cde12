"""Snapshots: saved in one transaction, replaced per date and version, read back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

import factories as f
from kenko.errors import StoreError, UnknownAccountError
from kenko.scores import read_history, read_snapshots, save_snapshots, score_accounts
from kenko.settings import Settings
from kenko.store import schema

# These stores hold only a test's own events: count the data as starting long
# before them, so windows reaching before the first event still have values.
SETTINGS = Settings(events_start=date(2000, 1, 1))
CARD = f.scorecard(
    [
        {
            "name": "Engagement",
            "measures": [
                f.measure("logins"),
                f.measure("csat", events=["csat"], aggregation="mean"),
            ],
        }
    ]
)
TEXT = "name: test\n"


def _count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def _logins(store, n, day):
    f.events(
        store,
        [("a", "u", "login", datetime(2024, day.month, day.day, i)) for i in range(n)],
    )


def test_snapshots__previous_score_change_and_history(store):
    f.account(store, "a")
    _logins(store, 4, date(2024, 1, 20))
    _logins(store, 7, date(2024, 2, 20))
    first = score_accounts(store, CARD, date(2024, 2, 1), SETTINGS, scorecard_text=TEXT)
    save_snapshots(store, first)

    second = score_accounts(
        store, CARD, date(2024, 3, 1), SETTINGS, scorecard_text=TEXT
    )
    save_snapshots(store, second)

    a = second.results[0]
    assert (a.score, a.previous_score, a.change) == (70.0, 40.0, 30.0)
    history = read_history(store, "a")
    assert [(h.as_of, h.score) for h in history] == [
        (date(2024, 2, 1), 40.0),
        (date(2024, 3, 1), 70.0),
    ]
    assert [h.to_dict() for h in history] == [first.results[0].to_dict(), a.to_dict()]
    assert read_snapshots(store) == [a]
    assert read_snapshots(store, as_of=date(2024, 2, 1)) == first.results
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(schema.scorecard_versions)).one()
    assert (row.version, row.text) == (first.version, TEXT)
    with pytest.raises(UnknownAccountError):
        read_history(store, "nobody")


def test_snapshots__to_dict_is_the_json_shape(store):
    f.account(store, "a")
    _logins(store, 7, date(2024, 2, 20))

    run = score_accounts(store, CARD, date(2024, 3, 1), SETTINGS, version="v1")

    assert run.results[0].to_dict() == {
        "account_id": "a",
        "as_of": "2024-03-01",
        "version": "v1",
        "segment": "default",
        "score": 70.0,
        "band": "green",
        "status": "scored",
        "coverage": 0.5,
        "previous_score": None,
        "change": None,
        "groups": {"Engagement": 70.0},
        "measures": {
            "logins": {"value": 7.0, "points": 70.0, "weight": 1.0,
                       "group": "Engagement", "note": None},
            "csat": {"value": None, "points": None, "weight": 0.0,
                     "group": "Engagement", "note": "no event value in the window"},
        },
        "reasons": [
            {"measure": "logins", "group": "Engagement", "value": 7.0, "points": 70.0,
             "lost": 30.0}
        ],
    }  # fmt: skip


def test_snapshots__rerunning_the_same_date_replaces(store):
    f.account(store, "a")
    _logins(store, 4, date(2024, 2, 20))
    save_snapshots(store, score_accounts(store, CARD, date(2024, 3, 1), SETTINGS))
    _logins(store, 2, date(2024, 2, 21))

    save_snapshots(store, score_accounts(store, CARD, date(2024, 3, 1), SETTINGS))

    assert [s.score for s in read_snapshots(store, as_of=date(2024, 3, 1))] == [60.0]
    assert (
        _count(store, schema.snapshots),
        _count(store, schema.snapshot_measures),
    ) == (
        1,
        2,
    )


def test_snapshots__failure_mid_save_leaves_the_previous_state(store):
    f.account(store, "a")
    _logins(store, 4, date(2024, 2, 20))
    save_snapshots(store, score_accounts(store, CARD, date(2024, 3, 1), SETTINGS))
    before = read_snapshots(store)
    _logins(store, 2, date(2024, 2, 21))
    run = score_accounts(store, CARD, date(2024, 3, 1), SETTINGS)
    # A measure row without a group breaks the NOT NULL constraint of the last insert,
    # after the old rows were deleted and the new snapshot rows written.
    block = run.blocks[0]
    block.measure_groups[block.measure_names.index("csat")] = None

    # The store turns the driver's error into a StoreError.
    with pytest.raises(StoreError, match="cannot write"):
        save_snapshots(store, run)

    assert read_snapshots(store) == before
    assert before[0].score == 40.0
    assert _count(store, schema.snapshot_measures) == 2


def test_snapshots__backfilling_an_earlier_date_relinks_the_next_change(store):
    f.account(store, "a")
    _logins(store, 4, date(2024, 1, 20))
    _logins(store, 7, date(2024, 2, 20))
    march = score_accounts(store, CARD, date(2024, 3, 1), SETTINGS, scorecard_text=TEXT)
    save_snapshots(store, march)
    assert march.results[0].change is None

    # Scoring February afterwards makes it March's previous snapshot: 70 - 40 = 30.
    february = score_accounts(
        store, CARD, date(2024, 2, 1), SETTINGS, scorecard_text=TEXT
    )
    save_snapshots(store, february)

    history = read_history(store, "a")
    assert [(h.as_of, h.score, h.previous_score, h.change) for h in history] == [
        (date(2024, 2, 1), 40.0, None, None),
        (date(2024, 3, 1), 70.0, 40.0, 30.0),
    ]
