"""Backtest of the example scorecard on the crm6 export, three monthly dates of 2023.

Churn counts are recomputed independently from the shared CSV with pandas: spells of
line items joined when one starts within 31 days of the latest end so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pandas as pd
import pytest
import yaml

from conftest import CRM6, REPO
from kenko.load import load_files
from kenko.scorecard import read_scorecard
from kenko.settings import Settings
from kenko.store import Store, open_store
from kenko.validation.backtest import backtest

pytestmark = pytest.mark.crm6
EXAMPLE = REPO / "examples" / "crm6"
DATES = [date(2023, 1, 1), date(2023, 2, 1), date(2023, 3, 1)]


@pytest.fixture(scope="module")
def crm6(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Settings]]:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("crm6bt"))
    files = [CRM6 / "accounts.csv", CRM6 / "subscriptions.csv", CRM6 / "events.parquet"]
    load_files(store, settings, files)
    yield store, settings
    store.close()


def _independent_churn() -> dict[tuple[str, date], bool]:
    """(account, as_of) -> churned within 180d, for accounts active on the dates."""
    subs = pd.read_csv(CRM6 / "subscriptions.csv", dtype={"account_id": str})
    subs["start"] = pd.to_datetime(subs["start_date"]).dt.date
    subs["end"] = pd.to_datetime(subs["end_date"]).dt.date
    data_end = subs["start"].max()
    open_end = date(9000, 1, 1)
    subs["end"] = [open_end if pd.isna(e) or e >= data_end else e for e in subs["end"]]
    out: dict[tuple[str, date], bool] = {}
    for account, items in subs.sort_values(["start", "end"]).groupby("account_id"):
        spells: list[list[date]] = []
        for start, end in zip(items["start"], items["end"], strict=True):
            if spells and start <= spells[-1][1] + timedelta(days=31):
                spells[-1][1] = max(spells[-1][1], end)
            else:
                spells.append([start, end])
        for day in DATES:
            ranges = zip(items["start"], items["end"], strict=True)
            if not any(s <= day < e for s, e in ranges):
                continue
            spell_end = next(e for s, e in spells if s <= day < e)
            out[(account, day)] = spell_end <= day + timedelta(days=180)
    return out


def test_backtest_crm6__figures_are_sane_and_counts_exact(crm6):
    store, settings = crm6
    sc = read_scorecard(EXAMPLE / "scorecard.yaml")

    result = backtest(
        store, sc.scorecard, settings, DATES[0], DATES[-1], "1mo", "180d", n_boot=200
    )

    truth = _independent_churn()
    assert result.active == len(truth)
    assert result.censored == result.unlabelled == 0
    scored = result.bands.attrs["rows"]
    assert result.overall.rows == len(scored) == len(truth) - result.insufficient
    counts = result.to_dict()["counts"]
    parts = ("scored", "insufficient_data", "censored", "unlabelled")
    assert counts["active"] == sum(counts[k] for k in parts)
    expected = sum(truth[(a, d)] for a, d in scored.index)
    assert result.overall.churned == expected == int(scored["churned"].sum())
    assert result.bands["rows"].sum() == result.overall.rows
    assert result.bands["churned"].sum() == result.overall.churned
    assert 0.5 < result.overall.auc < 0.75
    assert result.overall.auc_low < result.overall.auc < result.overall.auc_high
    red = result.bands.set_index("band")["churn_rate"]
    assert red["red"] > red["green"]
