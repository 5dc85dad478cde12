"""Discovery and tuning on a quarter of the crm6 export (accounts with id divisible
by 4), loaded through kenko. Labels and one factor's AUC are recomputed straight
from the shared files with DuckDB SQL, never from kenko's tables."""

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
from kenko.settings import Settings
from kenko.store import Store, open_store
from kenko.validation.backtest import as_of_dates
from kenko.validation.discover import discover
from kenko.validation.tune import tune

pytestmark = pytest.mark.crm6
EXAMPLE = REPO / "examples" / "crm6"
KEEP = "account_id % 4 = 0"
DATES = [date(2022, 10, 1), date(2023, 1, 1), date(2023, 4, 1)]


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crm6_subset")
    con = duckdb.connect()
    for name, read in [
        ("accounts.csv", "read_csv"),
        ("subscriptions.csv", "read_csv"),
        ("events.parquet", "read_parquet"),
    ]:
        kind = "PARQUET" if name.endswith("parquet") else "CSV, HEADER"
        con.execute(
            f"COPY (SELECT * FROM {read}('{CRM6 / name}') WHERE {KEEP}) "
            f"TO '{folder / name}' (FORMAT {kind})"
        )
    con.close()
    return folder


@pytest.fixture(scope="module")
def crm6(
    subset: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Settings]]:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("crm6_store"))
    files = [subset / "accounts.csv", subset / "subscriptions.csv"]
    reports = load_files(store, settings, [*files, subset / "events.parquet"])
    for r in reports:
        assert r.accepted + r.rejected + r.duplicates == r.rows_read
    yield store, settings
    store.close()


def _independent(subset: Path) -> tuple[int, int, float]:
    """(account-dates, churned within 180d, AUC of email_lead per seat in 28d).

    Churn as examples/crm6/analysis.py reads it: the account's last line item ends
    in (as_of, as_of + 180d] and before the end of the data, 2024-01-01. The AUC
    is the Mann-Whitney statistic from mid-ranks ("higher value -> churn").
    """
    dates = ", ".join(f"DATE '{d}'" for d in DATES)
    (row,) = duckdb.sql(
        f"""
        WITH d AS (SELECT unnest([{dates}]) AS as_of),
        subs AS (SELECT * FROM read_csv('{subset / "subscriptions.csv"}')),
        active AS (
            SELECT d.as_of, s.account_id,
                   sum(s.quantity) FILTER (WHERE s.units = 'users') AS seats
            FROM d JOIN subs s ON s.start_date <= d.as_of AND d.as_of < s.end_date
            GROUP BY ALL
        ),
        last_end AS (SELECT account_id, max(end_date) AS e FROM subs GROUP BY 1),
        mails AS (
            SELECT a.as_of, a.account_id, count(ev.account_id) AS n
            FROM active a
            LEFT JOIN read_parquet('{subset / "events.parquet"}') ev
              ON ev.account_id = a.account_id AND ev.event_type = 'email_lead'
             AND ev.event_time >= a.as_of - INTERVAL 28 DAY
             AND ev.event_time < a.as_of
            GROUP BY ALL
        ),
        labelled AS (
            SELECT a.as_of, a.account_id, m.n / a.seats AS x,
                   CAST(l.e > a.as_of AND l.e <= a.as_of + INTERVAL 180 DAY
                        AND l.e < DATE '2024-01-01' AS INTEGER) AS y
            FROM active a JOIN mails m USING (as_of, account_id)
            JOIN last_end l USING (account_id)
        ),
        ranked AS (
            SELECT y, rank() OVER (ORDER BY x)
                      + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS r
            FROM labelled
        )
        SELECT count(*), sum(y),
               (sum(r) FILTER (WHERE y = 1) - sum(y) * (sum(y) + 1) / 2.0)
               / (sum(y) * (count(*) - sum(y)))
        FROM ranked
        """
    ).fetchall()
    return int(row[0]), int(row[1]), float(row[2])


def test_crm6__discover_labels_and_auc_match_sql(
    crm6: tuple[Store, Settings], subset: Path
) -> None:
    store, settings = crm6
    result = discover(store, settings, DATES, "180d", windows=["28d"])
    rows, churned, auc = _independent(subset)
    assert (result.rows, result.churned) == (rows, churned)
    by_name = {f.name: f for f in result.factors}
    assert by_name["email_lead_per_seat_28d"].auc == pytest.approx(auc, abs=1e-6)
    # crm6 separates churners only modestly: nothing should look like a leak.
    assert all(f.strength < 0.3 for f in result.factors)
    assert not [fl for fl in result.flags if fl.probe.startswith("auc")]
    strengths = [f.strength for f in result.factors]
    assert strengths == sorted(strengths, reverse=True)


def test_crm6__tune_drafts_the_example_scorecard(
    crm6: tuple[Store, Settings],
) -> None:
    store, settings = crm6
    current = read_scorecard(EXAMPLE / "scorecard.yaml")
    dates = as_of_dates(date(2022, 7, 1), date(2023, 6, 1), "1mo")
    result = tune(store, current, settings, dates, "180d", every="1mo")
    assert result.kept_comments
    assert abs(sum(result.group_weights.values()) - 100) <= 0.2
    assert result.draft.scorecard.bands[0].below == result.red.below
    assert 0 < result.red.capture <= 1
    assert result.backtest is not None and result.backtest.compare is not None
    # Same rows for both scorecards, so the paired difference is of the two AUCs.
    paired = result.backtest.paired
    assert paired is not None
    assert paired.difference == pytest.approx(paired.auc_a - paired.auc_b)
