"""The demo end to end: its files load cleanly and its scorecard finds the churners."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kenko.demo import generate
from kenko.load import load_files
from kenko.scorecard.model import Scorecard
from kenko.scores import save_snapshots, score_accounts
from kenko.settings import read_settings
from kenko.store import open_store

# ibis 12 calls DuckDB 2.0's deprecated fetch_arrow_table(); not kenko's to fix.
pytestmark = pytest.mark.filterwarnings("ignore:fetch_arrow_table:DeprecationWarning")


def _auc(risk: pd.Series, churned: pd.Series) -> float:
    """P(risk of a churner > risk of a retained account), ties half (mid-ranks)."""
    ranks = risk.rank()
    n1 = int(churned.sum())
    n0 = len(churned) - n1
    return float((ranks[churned].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def test_demo__loads_without_rejections_and_scores_at_its_as_of(tmp_path: Path) -> None:
    files = generate(tmp_path)
    settings = read_settings(files.settings)
    text = files.scorecard.read_text()
    scorecard = Scorecard.model_validate(yaml.safe_load(text))

    with open_store(settings.store, tmp_path) as store:
        reports = load_files(store, settings, files.data)
        run = score_accounts(
            store, scorecard, files.as_of, settings, scorecard_text=text
        )
        save_snapshots(store, run)

        # Backtest: accounts that cancel within 180 days of 2024-10-01 score lower.
        as_of = date(2024, 10, 1)
        past = score_accounts(store, scorecard, as_of, settings, scorecard_text=text)

    assert [(r.rejected, r.duplicates) for r in reports] == [(0, 0)] * 3
    assert [r.accepted for r in reports] == [r.rows_read for r in reports]
    assert run.warnings == []
    assert {r.band for r in run.results} == {"red", "yellow", "green"}

    subs = pd.read_csv(files.subscriptions, keep_default_na=False)
    plans = subs[subs["units"] == "seats"].groupby("account_id").last()
    ends = pd.to_datetime(plans["end_date"]).where(plans["end_reason"] != "")
    scored = pd.Series(
        {r.account_id: r.score for r in past.results if r.score is not None}
    )
    end = ends.reindex(scored.index)
    churned = (end > pd.Timestamp(as_of)) & (
        end <= pd.Timestamp(as_of + timedelta(180))
    )
    assert churned.sum() >= 15
    assert _auc(-scored, churned) > 0.65
