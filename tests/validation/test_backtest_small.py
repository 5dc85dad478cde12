"""Backtest, calibration and monitoring on a small store whose outcomes are known."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

import factories as f
from kenko.scores import save_snapshots, score_accounts
from kenko.settings import Settings
from kenko.validation.backtest import as_of_dates, backtest
from kenko.validation.calibrate import calibrate, read_calibration, save_calibration
from kenko.validation.monitor import monitor
from kenko.validation.report import write_html
from kenko.warnings import FewChurnersWarning

SETTINGS = Settings()


def _store(store) -> None:
    """Six accounts; the three without logins churn on 2023-05-01."""
    for i in range(6):
        quiet = i % 2 == 0
        f.account(
            store,
            f"a{i}",
            start=date(2022, 6, 1),
            end=date(2023, 5, 1) if quiet else None,
        )
        if not quiet:
            f.events(
                store,
                [
                    (f"a{i}", "u", "login", datetime(2022, 12, 1) + timedelta(days=d))
                    for d in range(0, 150, 2)
                ],
            )
    # Keep data running past the horizon (data_end = the latest start).
    f.account(store, "late", start=date(2024, 1, 1))


def _few_churners(call: Callable[[], object]) -> tuple[object, list[str]]:
    """The result and the FewChurnersWarning texts (pytest.warns would re-emit
    ibis's own deprecation warnings outside their filter)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [str(w.message) for w in caught if w.category is FewChurnersWarning]


def _scorecard():
    return f.scorecard(
        [{"name": "Use", "weight": 1, "measures": [f.measure("logins")]}],
        bands=[{"name": "red", "below": 40}, {"name": "green"}],
    )


def test_as_of_dates__step_on_the_calendar_from_the_start():
    assert as_of_dates(date(2023, 1, 31), date(2023, 4, 30), "1mo") == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
    ]


def test_backtest_small__perfect_separation_with_a_few_churners_warning(
    store, tmp_path
):
    _store(store)

    result, caveats = _few_churners(
        lambda: backtest(
            store,
            _scorecard(),
            SETTINGS,
            date(2023, 1, 1),
            date(2023, 1, 1),
            "1mo",
            "180d",
            n_boot=50,
        )
    )

    assert any("only 3 churned accounts" in c for c in caveats)

    assert result.overall.rows == 6
    assert result.overall.churned == 3
    assert result.overall.auc == 1.0
    assert (result.overall.precision_red, result.overall.recall_red) == (1.0, 1.0)
    assert result.bands[["band", "rows", "churned"]].to_dict("records") == [
        {"band": "red", "rows": 3, "churned": 3},
        {"band": "green", "rows": 3, "churned": 0},
    ]
    shape = json.loads(json.dumps(result.to_dict()))
    assert shape["counts"] == {
        "active": 6,
        "censored": 0,
        "insufficient_data": 0,
        "unlabelled": 0,
        "scored": 6,
    }
    write_html(result, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "Plotly.newPlot" in page and "http" not in page.split("<script>")[2]


def test_backtest_small__compare_pairs_the_same_rows(store):
    _store(store)
    flat = f.scorecard(
        [
            {
                "name": "Use",
                "weight": 1,
                "measures": [f.measure("mrr", subscription="mrr")],
            }
        ]
    )

    result, _ = _few_churners(
        lambda: backtest(
            store,
            _scorecard(),
            SETTINGS,
            date(2023, 1, 1),
            date(2023, 1, 1),
            compare=flat,
            n_boot=50,
        )
    )

    assert result.paired is not None
    assert (result.paired.auc_a, result.paired.auc_b) == (1.0, 0.5)
    assert result.paired.difference == 0.5


def test_calibrate__stored_fit_gives_score_a_probability_and_monitor_checks_it(store):
    _store(store)
    sc = _scorecard()

    cal = calibrate(
        store, sc, SETTINGS, date(2022, 12, 1), date(2023, 1, 1), version="v1"
    )
    save_calibration(store, cal)
    run = score_accounts(store, sc, date(2023, 1, 1), SETTINGS, version="v1")
    save_snapshots(store, run)

    assert read_calibration(store, "v1").method == "isotonic"
    probability = {r.account_id: r.to_dict()["probability"] for r in run.results}
    # The events start on 2022-12-01, so that date's 28d window holds no data: its
    # six accounts are insufficient data (they used to score 0, three renewing,
    # which put 3 / 9 at score 0). At score 0: the three quiet ones of 2023-01-01,
    # none renewing.
    assert probability == {
        "a0": 0.0,
        "a1": 1.0,
        "a2": 0.0,
        "a3": 1.0,
        "a4": 0.0,
        "a5": 1.0,
    }
    checked = monitor(store, "v1", SETTINGS)
    rows = checked.cohorts.to_dict("records")
    assert [(r["band"], r["n"], r["actual"]) for r in rows] == [
        ("green", 3, 3),
        ("red", 3, 0),
    ]
    assert [r["expected"] for r in rows] == pytest.approx([3.0, 0.0])
    # Binomial(3, 0): no renewal is certain, and none came.
    assert rows[1]["p_value"] == pytest.approx(1.0)
    assert not checked.drift


def test_score__no_probability_without_a_calibration(store):
    _store(store)

    run = score_accounts(store, _scorecard(), date(2023, 1, 1), SETTINGS)

    assert all("probability" not in r.to_dict() for r in run.results)
