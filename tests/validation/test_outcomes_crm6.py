"""label_outcomes on the crm6 export, checked against SQL on the raw CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import pytest
import yaml

from conftest import CRM6, REPO
from kenko.load import load_files
from kenko.settings import Settings
from kenko.store import Store, open_store
from kenko.validation.outcomes import data_end, label_outcomes

pytestmark = pytest.mark.crm6

AS_OF = date(2023, 6, 1)
HORIZON_END = AS_OF + timedelta(days=90)  # 2023-08-30, well before the data ends

# Independent of kenko's spells: an account active at AS_OF has churned by the
# horizon when one of its line items ends at e inside (AS_OF, HORIZON_END] and no line
# item is still running at e or starts within the 31-day gap after it.
RAW_COUNTS = """
WITH s AS (
    SELECT CAST(account_id AS VARCHAR) AS a, start_date, end_date, mrr
    FROM read_csv($path)
),
active AS (
    SELECT a, sum(mrr) AS mrr FROM s
    WHERE start_date <= $as_of AND end_date > $as_of GROUP BY a
),
churned AS (
    SELECT DISTINCT s1.a FROM s AS s1 JOIN active USING (a)
    WHERE s1.end_date > $as_of AND s1.end_date <= $horizon_end
      AND NOT EXISTS (
        SELECT 1 FROM s AS s2
        WHERE s2.a = s1.a AND s2.end_date > s1.end_date
          AND s2.start_date <= s1.end_date + INTERVAL 31 DAY
      )
)
SELECT (SELECT count(*) FROM active), (SELECT count(*) FROM churned),
       (SELECT sum(mrr) FROM active)
"""


@pytest.fixture(scope="module")
def crm6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Settings]]:
    """crm6 accounts and subscriptions, loaded with the example workspace's mapping."""
    settings = Settings.model_validate(
        yaml.safe_load((REPO / "examples" / "crm6" / "kenko.yaml").read_text())
    )
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("crm6"))
    load_files(store, settings, [CRM6 / "accounts.csv", CRM6 / "subscriptions.csv"])
    yield store, settings
    store.close()


def test_crm6_outcomes__data_ends_when_the_simulation_stopped(
    crm6: tuple[Store, Settings],
) -> None:
    store, settings = crm6
    # The simulation ran to 2024-01-01; periods ending later were still running.
    assert data_end(store, settings) == date(2024, 1, 1)


def test_crm6_outcomes__label_counts_match_the_raw_export(
    crm6: tuple[Store, Settings],
) -> None:
    store, settings = crm6
    expected = duckdb.execute(
        RAW_COUNTS,
        {
            "path": str(CRM6 / "subscriptions.csv"),
            "as_of": AS_OF,
            "horizon_end": HORIZON_END,
        },
    ).fetchone()
    assert expected is not None
    n_active, n_churned, mrr = expected

    out = label_outcomes(store, [AS_OF], "90d", settings)

    assert len(out.labels) == n_active
    assert int(out.labels["churned"].sum()) == n_churned
    assert out.labels["mrr_start"].sum() == pytest.approx(mrr)
    assert set(out.labels.loc[out.labels["churned"], "churn_kind"]) == {"voluntary"}
    assert out.censored.empty
    assert n_churned > 0
