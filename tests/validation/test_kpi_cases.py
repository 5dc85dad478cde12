"""KPIs on the shared cases 01-07 (churn, MRR, GRR / NRR, cohorts, censoring)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from factories import events, insert
from kenko.cli.main import cli
from kenko.errors import DataError
from kenko.settings import Settings
from kenko.store import Store
from kenko.validation.kpi import (
    churn_durations,
    cohort_retention,
    daily_series,
    mrr_movements,
    period_kpis,
    time_to_churn,
)

D = date


def _items(store: Store, rows: list[dict[str, Any]]) -> None:
    """Line items as dicts: account, start, end, mrr, reason, canceled (optional)."""
    accounts = sorted({r["account"] for r in rows})
    insert(
        store,
        "accounts",
        [{"account_id": a, "known_on": D(2023, 1, 1)} for a in accounts],
    )
    insert(
        store,
        "subscriptions",
        [
            {
                "account_id": r["account"],
                "subscription_id": r.get("id", f"{r['account']}-{i}"),
                "product": "core",
                "start_date": r["start"],
                "end_date": r.get("end"),
                "mrr": r.get("mrr", 100.0),
                "end_reason": r.get("reason"),
                "canceled_at": r.get("canceled"),
                "billing_months": 1,
            }
            for i, r in enumerate(rows)
        ],
    )


def _row(frame: Any, **match: Any) -> dict[str, Any]:
    rows = frame.to_dict("records")
    hits = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(hits) == 1, hits
    return hits[0]


def test_daily_series__end_is_exclusive_and_the_series_reconciles(
    store: Store,
) -> None:
    # case 01
    _items(
        store,
        [
            {"account": "c1", "start": D(2024, 1, 1)},
            {"account": "c2", "start": D(2024, 1, 1), "end": D(2024, 1, 4)},
            {"account": "c3", "start": D(2024, 1, 2)},
        ],
    )

    series = daily_series(store, D(2024, 1, 1), D(2024, 1, 5))

    got = series[["date", "active", "new", "churned"]].values.tolist()
    assert got == [
        [D(2024, 1, 1), 2, 2, 0],
        [D(2024, 1, 2), 3, 1, 0],
        [D(2024, 1, 3), 3, 0, 0],
        [D(2024, 1, 4), 2, 0, 1],
        [D(2024, 1, 5), 2, 0, 0],
    ]
    active = series["active"].tolist()
    for d in range(1, len(series)):
        assert active[d] == active[d - 1] + series["new"][d] - series["churned"][d]


def test_daily_series__reconciles_every_day_with_overlaps_and_restarts(
    store: Store,
) -> None:
    _items(
        store,
        [
            {"account": "a", "start": D(2024, 1, 3), "end": D(2024, 1, 10)},
            {"account": "a", "start": D(2024, 1, 5), "end": D(2024, 1, 12)},
            {"account": "a", "start": D(2024, 1, 15), "end": D(2024, 1, 20)},
            {"account": "b", "start": D(2023, 12, 1), "end": D(2024, 1, 1)},
            {"account": "c", "start": D(2023, 12, 1), "end": D(2024, 1, 31)},
        ],
    )

    series = daily_series(store, D(2024, 1, 1), D(2024, 1, 31))

    # b and c were active the day before; b's end on 01-01 is that day's churn.
    first = series.iloc[0]
    assert (first["active"], first["new"], first["churned"]) == (1, 0, 1)
    active = series["active"].tolist()
    for d in range(1, len(series)):
        assert active[d] == active[d - 1] + series["new"][d] - series["churned"][d]
    assert series["new"].sum() == 2  # a on 01-03 and again on 01-15
    assert series["churned"].sum() == 4  # b 01-01, a 01-12, a 01-20, c 01-31


CASE_02 = [
    {
        "account": "c1",
        "mrr": 100.0,
        "start": D(2024, 9, 1),
        "canceled": D(2024, 11, 3),
        "end": D(2024, 11, 23),
        "reason": "too_expensive",
    },
    {
        "account": "c2",
        "mrr": 50.0,
        "start": D(2024, 10, 15),
        "canceled": D(2024, 11, 10),
        "end": D(2024, 11, 10),
        "reason": "payment_failed",
    },
    {"account": "c3", "mrr": 80.0, "start": D(2024, 8, 1)},
]


def test_daily_series__cancel_request_is_not_the_churn_date(store: Store) -> None:
    # case 02
    _items(store, CASE_02)

    series = daily_series(store, D(2024, 11, 1), D(2024, 11, 15))

    day = _row(series, date=D(2024, 11, 15))
    assert (day["active"], day["mrr"], day["committed_mrr"]) == (2, 180.0, 80.0)
    assert series["cancel_requests"].sum() == 2
    assert series["churned"].sum() == 1  # c2 on 11-10; c1 ends 11-23


def test_period_kpis__november_churn_apart_by_kind(store: Store) -> None:
    # case 02: 2 / (3 active on Nov 1 + 0 new)
    _items(store, CASE_02)

    nov = period_kpis(store, Settings(), D(2024, 11, 1), D(2024, 11, 30)).iloc[0]

    assert (nov["active_start"], nov["new"], nov["churned"]) == (3, 0, 2)
    assert nov["logo_churn_rate"] == 0.6667
    assert nov["voluntary_churn_rate"] == 0.3333
    assert nov["involuntary_churn_rate"] == 0.3333
    assert nov["cancel_requests"] == 2


def test_period_kpis__denominator_and_what_counts_as_churn(store: Store) -> None:
    # case 03, June 2024
    _items(
        store,
        [
            {
                "account": "a1",
                "start": D(2024, 5, 1),
                "end": D(2024, 6, 10),
                "reason": "cancelled",
            },
            {"account": "a2", "start": D(2024, 5, 15)},
            {
                "account": "a3",
                "start": D(2024, 4, 1),
                "end": D(2024, 6, 20),
                "reason": "payment_failed",
            },
            {
                "account": "a4",
                "start": D(2024, 6, 5),
                "end": D(2024, 6, 25),
                "reason": "cancelled",
            },
            {"account": "a5", "start": D(2024, 6, 12)},
            {
                "account": "a6",
                "start": D(2024, 3, 1),
                "end": D(2024, 6, 15),
                "reason": "fixed_term_completed",
            },
            {
                "account": "a7",
                "start": D(2024, 2, 1),
                "end": D(2024, 5, 20),
                "reason": "cancelled",
            },
            {"account": "a8", "start": D(2024, 6, 1)},
        ],
    )

    june = period_kpis(store, Settings(), D(2024, 6, 1), D(2024, 6, 30))

    assert len(june) == 1
    row = june.iloc[0]
    assert (row["active_start"], row["new"]) == (5, 2)
    assert (row["churned_voluntary"], row["churned_involuntary"]) == (2, 1)
    assert row["completed"] == 1  # a6: not churn
    assert row["voluntary_churn_rate"] == 0.2857  # 2/7
    assert row["involuntary_churn_rate"] == 0.1429  # 1/7
    assert row["logo_churn_rate"] == 0.4286  # 3/7, not 4/7 with a6


def test_period_kpis__grr_sees_a_line_item_ending_in_a_retained_account(
    store: Store,
) -> None:
    # case 06, period [2024-01-01, 2024-04-01)
    _items(
        store,
        [
            {"account": "A", "mrr": 100.0, "start": D(2023, 6, 1)},
            {
                "account": "A",
                "mrr": 50.0,
                "start": D(2023, 7, 1),
                "end": D(2024, 3, 1),
            },
            {"account": "B", "mrr": 200.0, "start": D(2023, 1, 1)},
            {"account": "B", "mrr": 100.0, "start": D(2024, 2, 1)},
            {
                "account": "C",
                "mrr": 80.0,
                "start": D(2023, 5, 1),
                "end": D(2024, 2, 15),
            },
            {"account": "D", "mrr": 60.0, "start": D(2024, 2, 1)},
        ],
    )

    q1 = period_kpis(
        store, Settings(), D(2024, 1, 1), D(2024, 3, 31), period="quarter"
    ).iloc[0]

    # Start MRR 430 (A 150, B 200, C 80); D is new and left out on both sides.
    assert q1["mrr_start"] == 430.0
    assert (q1["contraction_mrr"], q1["expansion_mrr"], q1["churned_mrr"]) == (
        50.0,
        100.0,
        80.0,
    )
    assert q1["grr"] == 0.6977  # 300/430, not 350/430
    assert q1["nrr"] == 0.9302  # 400/430
    assert q1["mrr_churn_rate"] == 0.3023  # 130/430
    # logo churn 1/3 of the accounts at the start; D is new in the quarter
    assert (q1["churned"], q1["active_start"], q1["new"]) == (1, 3, 1)
    assert q1["logo_churn_rate"] == 0.25  # 1 / (3 + 1 new)
    assert q1["churned"] / q1["active_start"] == pytest.approx(1 / 3)


def test_period_kpis__by_segment_attribute_and_band(store: Store) -> None:
    _items(
        store,
        [
            {"account": "x", "start": D(2024, 1, 1), "end": D(2024, 2, 10)},
            {"account": "y", "start": D(2024, 1, 1)},
        ],
    )
    insert(
        store,
        "account_attributes",
        [
            {"account_id": "x", "name": "tier", "value": "smb", "static": True},
            {"account_id": "y", "name": "tier", "value": "ent", "static": True},
        ],
    )
    snap = {
        "version": "v1",
        "segment": "all",
        "status": "scored",
        "coverage": 1.0,
        "groups": "{}",
        "reasons": "[]",
        "computed_at": datetime(2024, 1, 15),
    }
    _snapshots(
        store,
        [
            {**snap, "account_id": "x", "as_of": D(2024, 1, 15), "band": "red"},
            {**snap, "account_id": "y", "as_of": D(2024, 1, 15), "band": "green"},
            # after February's start: not used for February
            {**snap, "account_id": "x", "as_of": D(2024, 2, 5), "band": "green"},
        ],
    )

    tiers = period_kpis(store, Settings(), D(2024, 2, 1), D(2024, 2, 29), by="tier")
    bands = period_kpis(store, Settings(), D(2024, 2, 1), D(2024, 2, 29), by="band")

    assert _row(tiers, group="smb")["logo_churn_rate"] == 1.0
    assert _row(tiers, group="ent")["logo_churn_rate"] == 0.0
    assert _row(bands, group="red")["churned"] == 1
    assert _row(bands, group="green")["churned"] == 0


def _snapshots(store: Store, rows: list[dict[str, Any]]) -> None:
    import sqlalchemy as sa

    from kenko.store import schema

    with store.begin() as conn:
        conn.execute(sa.insert(schema.snapshots), rows)


def test_mrr_movements__month_spine_without_invented_churn(store: Store) -> None:
    # case 05, as-of month 2024-06
    _items(
        store,
        [
            {"account": "c1", "start": D(2024, 1, 1), "end": D(2024, 4, 1)},
            {"account": "c2", "mrr": 50.0, "start": D(2024, 3, 1)},
            {
                "account": "c3",
                "mrr": 30.0,
                "start": D(2024, 2, 1),
                "end": D(2024, 3, 1),
            },
            {"account": "c3", "mrr": 30.0, "start": D(2024, 5, 1)},
        ],
    )

    table = mrr_movements(store, D(2024, 1, 1), D(2024, 6, 1))

    got = [
        [m.strftime("%Y-%m"), a, v, c or ""]
        for m, a, v, c in table[["month", "account_id", "mrr", "change"]].values
    ]
    assert got == [
        ["2024-01", "c1", 100.0, "new"],
        ["2024-02", "c1", 100.0, ""],
        ["2024-02", "c3", 30.0, "new"],
        ["2024-03", "c1", 100.0, ""],
        ["2024-03", "c2", 50.0, "new"],
        ["2024-03", "c3", 0.0, "churn"],
        ["2024-04", "c1", 0.0, "churn"],
        ["2024-04", "c2", 50.0, ""],
        ["2024-04", "c3", 0.0, ""],
        ["2024-05", "c2", 50.0, ""],
        ["2024-05", "c3", 30.0, "reactivation"],
        ["2024-06", "c2", 50.0, ""],
        ["2024-06", "c3", 30.0, ""],
    ]
    totals = table.groupby("month")["mrr"].sum()
    assert totals.tolist() == [100.0, 130.0, 150.0, 50.0, 80.0, 80.0]
    assert table["month"].max() == D(2024, 6, 1)


def test_mrr_movements__expansion_and_contraction_amounts(store: Store) -> None:
    _items(
        store,
        [
            {"account": "a", "mrr": 100.0, "start": D(2024, 1, 1)},
            {"account": "a", "mrr": 40.0, "start": D(2024, 2, 1), "end": D(2024, 3, 1)},
        ],
    )

    table = mrr_movements(store, D(2024, 1, 1), D(2024, 3, 1))

    assert table[["change", "expansion", "contraction"]].values.tolist() == [
        ["new", 0.0, 0.0],
        ["expansion", 40.0, 0.0],
        ["contraction", 0.0, 40.0],
    ]


def test_cohort_retention__ranges_snap_to_month_and_running_month_incomplete(
    store: Store,
) -> None:
    # case 04, users' events
    insert(store, "accounts", [{"account_id": "acme", "known_on": D(2023, 1, 1)}])
    visits = [
        ("u1", D(2023, 11, 20)),
        ("u1", D(2023, 12, 5)),
        ("u2", D(2023, 11, 16)),
        ("u2", D(2024, 1, 10)),
        ("u3", D(2023, 12, 2)),
        ("u3", D(2023, 12, 28)),
        ("u4", D(2023, 11, 2)),
    ]
    events(
        store,
        [
            ("acme", u, "login", datetime.combine(d, datetime.min.time()))
            for u, d in visits
        ],
    )

    cells = cohort_retention(
        store, D(2023, 11, 15), D(2024, 1, 31), source="events", as_of=D(2024, 1, 20)
    )

    got = [
        [c.strftime("%Y-%m"), k, size, active, incomplete]
        for c, k, size, active, incomplete in cells[
            ["cohort", "months", "size", "active", "incomplete"]
        ].values
    ]
    assert got == [
        ["2023-11", 0, 3, 3, False],
        ["2023-11", 1, 3, 1, False],
        ["2023-11", 2, 3, 1, True],
        ["2023-12", 0, 1, 1, False],
        ["2023-12", 1, 1, 0, True],
    ]


def test_cohort_retention__accounts_from_subscriptions(store: Store) -> None:
    _items(
        store,
        [
            {"account": "a", "start": D(2024, 1, 10), "end": D(2024, 2, 5)},
            {"account": "b", "start": D(2024, 1, 20)},
            {"account": "c", "start": D(2024, 2, 1), "end": D(2024, 2, 20)},
            {"account": "old", "start": D(2023, 12, 1)},  # December cohort
        ],
    )

    cells = cohort_retention(store, D(2024, 1, 15), D(2024, 3, 31))

    got = [
        [c.strftime("%Y-%m"), k, size, active, rate]
        for c, k, size, active, rate in cells[
            ["cohort", "months", "size", "active", "rate"]
        ].values
    ]
    assert got == [
        ["2024-01", 0, 2, 2, 1.0],
        ["2024-01", 1, 2, 2, 1.0],  # a is active Feb 1..4
        ["2024-01", 2, 2, 1, 0.5],
        ["2024-02", 0, 1, 1, 1.0],
        ["2024-02", 1, 1, 0, 0.0],
    ]
    assert not cells["incomplete"].any()


CASE_07 = [
    {"account": "a", "start": D(2024, 10, 8), "end": D(2024, 10, 10)},
    {"account": "b", "start": D(2024, 10, 9), "end": D(2024, 10, 12)},
    {"account": "c", "start": D(2024, 10, 10), "end": D(2024, 10, 15)},
    {"account": "d", "start": D(2024, 10, 11)},
]


def test_time_to_churn__censored_at_the_cutoff(store: Store) -> None:
    # case 07, cutoff 2024-10-12
    _items(store, CASE_07)

    table = time_to_churn(store, D(2024, 10, 12), Settings())

    got = {
        r["account_id"]: (r["duration_days"], int(r["observed"]))
        for r in table.to_dict("records")
    }
    assert got == {"a": (2, 1), "b": (3, 1), "c": (2, 0), "d": (1, 0)}


def test_time_to_churn__negative_duration_is_a_clear_error(store: Store) -> None:
    _items(store, [*CASE_07, {"account": "e", "start": D(2024, 10, 12)}])
    # Written past the loader (which refuses an end before the start).
    insert(
        store,
        "subscriptions",
        [
            {
                "account_id": "e",
                "product": "addon",
                "start_date": D(2024, 10, 12),
                "end_date": D(2024, 10, 9),
                "mrr": 1.0,
            }
        ],
    )

    with pytest.raises(DataError, match=r"account e.*2024-10-09.*2024-10-12"):
        time_to_churn(store, D(2024, 10, 12), Settings())


def test_churn_durations__rejects_a_churn_before_the_start() -> None:
    import pandas as pd

    tenure = pd.DataFrame(
        {
            "account_id": ["a", "e"],
            "start_date": [D(2024, 10, 8), D(2024, 10, 12)],
            "churn_date": [D(2024, 10, 10), D(2024, 10, 9)],
        }
    )

    with pytest.raises(DataError, match="account e: churn date 2024-10-09"):
        churn_durations(tenure, D(2024, 10, 12))
    ok = churn_durations(tenure.iloc[:1], D(2024, 10, 12))
    assert ok[["duration_days", "observed"]].values.tolist() == [[2, True]]


def test_kpi_cli__json_rows_per_month(tmp_path: Path) -> None:
    runner = CliRunner()
    ws = tmp_path / "ws"
    assert runner.invoke(cli, ["init", str(ws)], obj={}).exit_code == 0
    (tmp_path / "subscriptions.csv").write_text(
        "account_id,product,start_date,end_date,mrr\n"
        "a,core,2024-01-01,2024-02-10,100\n"
        "b,core,2024-01-01,,50\n"
    )
    (tmp_path / "accounts.csv").write_text("account_id\na\nb\n")
    args = ["-w", str(ws), "load", str(tmp_path / "accounts.csv")]
    assert runner.invoke(cli, args, obj={}).exit_code == 0
    args = ["-w", str(ws), "load", str(tmp_path / "subscriptions.csv")]
    assert runner.invoke(cli, args, obj={}).exit_code == 0

    result = runner.invoke(
        cli,
        [
            *("-w", str(ws), "kpi", "--from", "2024-01-01", "--to", "2024-02-29"),
            *("--format", "json"),
        ],
        obj={},
    )

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["period"], r["churned"], r["logo_churn_rate"]) for r in rows] == [
        ("2024-01-01", 0, 0.0),
        ("2024-02-01", 1, 0.5),
    ]


def test_score_gap__measures_and_groups_explain_the_churned_accounts_score(
    store: Store,
) -> None:
    import sqlalchemy as sa

    from kenko.store import schema
    from kenko.validation.kpi import score_gap

    day = D(2024, 1, 1)
    snap = {
        "as_of": day,
        "version": "v1",
        "segment": "all",
        "status": "scored",
        "coverage": 1.0,
        "groups": "{}",
        "reasons": "[]",
        "computed_at": datetime(2024, 1, 1),
    }
    _snapshots(
        store,
        [
            {**snap, "account_id": "x", "score": 20.0, "band": "red"},
            {**snap, "account_id": "y", "score": 80.0, "band": "green"},
        ],
    )
    part = {"as_of": day, "version": "v1", "weight": 0.5}
    with store.begin() as conn:
        conn.execute(
            sa.insert(schema.snapshot_measures),
            [
                {
                    **part,
                    "account_id": "x",
                    "measure": "m1",
                    "group_name": "G1",
                    "points": 0.0,
                },
                {
                    **part,
                    "account_id": "y",
                    "measure": "m1",
                    "group_name": "G1",
                    "points": 100.0,
                },
                {
                    **part,
                    "account_id": "x",
                    "measure": "m2",
                    "group_name": "G2",
                    "points": 40.0,
                },
                {
                    **part,
                    "account_id": "y",
                    "measure": "m2",
                    "group_name": "G2",
                    "points": 60.0,
                },
            ],
        )

    gap = score_gap(store, "v1", day, ["x"])

    # score 80 - 20 = 60: m1 gives 50 - 0, m2 gives 30 - 20 (points × weight 0.5)
    assert (gap.score_gap, gap.churned, gap.retained) == (60.0, 1, 1)
    assert gap.measures[["measure", "gap", "share"]].values.tolist() == [
        ["m1", 50.0, 0.8333],
        ["m2", 10.0, 0.1667],
    ]
    assert gap.groups[["group", "gap"]].values.tolist() == [["G1", 50.0], ["G2", 10.0]]
