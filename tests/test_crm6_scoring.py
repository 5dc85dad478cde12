"""The main job on real input: the crm6 export, loaded and scored at several dates.

Expected values are computed independently, straight from the shared files with DuckDB
SQL, never from kenko's own tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import CRM6, REPO
from kenko.load import load_files
from kenko.scorecard import read_scorecard
from kenko.scores import save_snapshots, score_accounts
from kenko.settings import Settings
from kenko.store import Store, open_store

pytestmark = pytest.mark.crm6
EXAMPLE = REPO / "examples" / "crm6"
DATES = [date(2022, 7, 1), date(2023, 1, 1), date(2023, 6, 1)]


@pytest.fixture(scope="module")
def crm6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Settings]]:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("crm6"))
    files = [CRM6 / "accounts.csv", CRM6 / "subscriptions.csv", CRM6 / "events.parquet"]
    reports = load_files(store, settings, files)
    assert [r.rows_read for r in reports] == [647, 16392, 8868566]
    for r in reports:
        assert r.accepted + r.rejected + r.duplicates == r.rows_read
    yield store, settings
    store.close()


def _active_accounts(day: date) -> set[str]:
    rows = duckdb.sql(
        f"""
        SELECT DISTINCT CAST(account_id AS VARCHAR)
        FROM read_csv('{CRM6 / "subscriptions.csv"}')
        WHERE start_date <= DATE '{day}'
          AND (end_date IS NULL OR DATE '{day}' < end_date)
        """
    ).fetchall()
    return {r[0] for r in rows}


def _events_28d(day: date) -> dict[str, tuple[int, int]]:
    """account -> (meetings in [day-28d, day), distinct users with any event then)."""
    rows = duckdb.sql(
        f"""
        SELECT CAST(account_id AS VARCHAR),
               count(*) FILTER (WHERE event_type = 'meeting'),
               count(DISTINCT user_id)
        FROM read_parquet('{CRM6 / "events.parquet"}')
        WHERE event_time >= TIMESTAMP '{day}' - INTERVAL 28 DAY
          AND event_time < TIMESTAMP '{day}'
        GROUP BY 1
        """
    ).fetchall()
    return {a: (m, u) for a, m, u in rows}


@pytest.mark.parametrize("day", DATES, ids=str)
def test_crm6__scores_every_active_account_with_exact_measures(
    crm6: tuple[Store, Settings], day: date
) -> None:
    store, settings = crm6
    sc = read_scorecard(EXAMPLE / "scorecard.yaml")
    run = score_accounts(
        store, sc.scorecard, day, settings, version=sc.version, scorecard_text=sc.text
    )
    save_snapshots(store, run)

    by_account = {r.account_id: r for r in run.results}
    assert set(by_account) == _active_accounts(day)
    expected = _events_28d(day)
    for account_id, result in by_account.items():
        meetings, users = expected.get(account_id, (0, 0))
        assert result.measures["meetings_28d"].value == meetings, account_id
        assert result.measures["active_users_28d"].value == users, account_id
        if result.status == "scored":
            assert result.score is not None and 0 <= result.score <= 100
            assert result.band in {"red", "yellow", "green"}
        else:
            assert result.status == "insufficient_data"
            assert result.score is None and result.band is None
    assert sum(r.status == "scored" for r in run.results) > 0.8 * len(run.results)


def test_crm6__example_files_are_valid() -> None:
    sc = read_scorecard(EXAMPLE / "scorecard.yaml")
    names = {m.name for _, _, v in sc.scorecard.variants() for _, m in v.measures()}
    assert {"meetings_28d", "active_users_28d"} <= names
    Settings.model_validate(yaml.safe_load((EXAMPLE / "kenko.yaml").read_text()))
    assert Path(CRM6 / "events.parquet").is_file()
