"""Loading the crm6 export end to end (DuckDB store only: 8.9M events).

The expected figures are computed here straight from the files with DuckDB, not
through kenko:
- accounts: every row has an id and the ids are distinct, so all 647 are accepted.
- subscriptions: every row has mrr >= 0, end_date > start_date, an account in
  accounts.csv and a distinct (account_id, product, start_date) key, so all 16,392
  line items are accepted.
- events: every account is known and every event_time is before the load time, so
  nothing is rejected; rows repeating (account_id, user_id, event_type, event_time,
  event_value) are duplicates, the rest accepted.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import duckdb
import pytest
import sqlalchemy as sa
from tests.conftest import CRM6

from kenko.load import load_files
from kenko.settings import EntitySource, Settings
from kenko.store import Store

log = logging.getLogger(__name__)

SETTINGS = Settings(
    accounts=EntitySource(
        files=["accounts*"],
        attributes=["channel", "date_of_birth", "country"],
        static_attributes=["channel", "date_of_birth"],
    ),
    subscriptions=EntitySource(
        files=["subscriptions*"], columns={"billing_term": "bill_period_months"}
    ),
    events=EntitySource(
        files=["events*"],
        columns={
            "type": "event_type",
            "timestamp": "event_time",
            "value": "event_value",
        },
    ),
)


def expected() -> dict[str, tuple[int, int, int, int]]:
    con = duckdb.connect()
    acc = f"'{CRM6 / 'accounts.csv'}'"
    subs = f"read_csv('{CRM6 / 'subscriptions.csv'}', all_varchar = true)"
    ev = f"'{CRM6 / 'events.parquet'}'"
    n_acc, n_ids = con.sql(
        f"SELECT count(*), count(DISTINCT account_id) FROM {acc}"
    ).fetchall()[0]
    n_subs, n_good = con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE CAST(mrr AS DOUBLE) >= 0 "
        "AND CAST(end_date AS DATE) > CAST(start_date AS DATE) "
        "AND account_id IN "
        f"(SELECT CAST(account_id AS VARCHAR) FROM {acc})) FROM {subs}"
    ).fetchall()[0]
    n_keys = con.sql(
        f"SELECT count(DISTINCT (account_id, product, start_date)) FROM {subs}"
    ).fetchall()[0][0]
    n_ev, n_distinct, n_known = con.sql(
        "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT account_id, user_id, "
        f"event_type, event_time, event_value FROM {ev})), count(*) FILTER "
        f"(WHERE account_id IN (SELECT account_id FROM {acc})) FROM {ev}"
    ).fetchall()[0]
    assert n_ids == n_acc and n_good == n_subs == n_keys and n_known == n_ev
    return {
        "accounts": (n_acc, n_acc, 0, 0),
        "subscriptions": (n_subs, n_subs, 0, 0),
        "events": (n_ev, n_distinct, 0, n_ev - n_distinct),
    }


@pytest.mark.crm6
def test_load__crm6_export_loads_every_row_accounted_for(duck_store: Store) -> None:
    paths = [CRM6 / "events.parquet", CRM6 / "subscriptions.csv", CRM6 / "accounts.csv"]
    started = time.perf_counter()
    reports = load_files(duck_store, SETTINGS, paths, now=datetime(2024, 2, 1))
    log.info("crm6 loaded in %.1f s", time.perf_counter() - started)

    got = {
        r.entity: (r.rows_read, r.accepted, r.rejected, r.duplicates) for r in reports
    }
    assert got == expected()
    assert got["accounts"] == (647, 647, 0, 0)
    assert got["subscriptions"] == (16392, 16392, 0, 0)
    assert got["events"] == (8868566, 8868488, 0, 78)
    with duck_store.engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM "
                "account_attributes), (SELECT count(*) FROM subscriptions), "
                "(SELECT sum(mrr) FROM subscriptions), (SELECT count(*) FROM events)"
            )
        ).one()
    total_mrr = duckdb.sql(
        f"SELECT sum(mrr) FROM '{CRM6 / 'subscriptions.csv'}'"
    ).fetchall()[0][0]
    assert tuple(tables) == (647, 647 * 3, 16392, float(total_mrr), 8868488)
