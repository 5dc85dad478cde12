"""Replaying many dates gives exactly what one scoring run per date gives."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import factories as f
from kenko.measures import compute_measures
from kenko.scores import score_accounts
from kenko.settings import Settings
from kenko.validation.replay import compute_measures_many, replay

SETTINGS = Settings()
# The events start on 2023-11-01. Before any event, near the data start (the 28d
# window covered, its previous window, 1mo and 3mo not; the 1mo then 3mo covered),
# around New York's DST change (2024-03-10), month ends, before most starts.
DATES = [
    date(2023, 9, 20),
    date(2023, 11, 29),
    date(2023, 12, 1),
    date(2024, 1, 1),
    date(2024, 2, 1),
    date(2024, 2, 29),
    date(2024, 3, 10),
    date(2024, 3, 11),
    date(2024, 3, 31),
    date(2024, 4, 15),
]


def _measures() -> list:
    every = {"events": ["*"]}
    return [
        f.measure("logins", events=["login"]),
        f.measure("users", aggregation="distinct_users", **every),
        f.measure("days", aggregation="active_days", **every),
        f.measure("since", aggregation="days_since_last", **every),
        f.measure("sum", aggregation="sum", events=["use"]),
        f.measure("mean", aggregation="mean", events=["use"]),
        f.measure("median", aggregation="median", events=["use"]),
        f.measure("last", aggregation="last_value", events=["use"]),
        f.measure("change", aggregation="change", events=["login"]),
        f.measure("nps", aggregation="nps", events=["nps"], window="3mo"),
        f.measure("month", window="1mo", **every),
        f.measure("weekly", window="4w", per_period={"period": "1w"}, **every),
        f.measure(
            "monthly_days",
            aggregation="active_days",
            window="3mo",
            per_period={"period": "1mo", "statistic": "min"},
            **every,
        ),
        f.measure("per_seat", events=["login"], normalise="per_seat"),
        f.measure("per_user", events=["use"], normalise="per_active_user"),
        f.measure("young", events=["login"], normalise="tenure_scaled"),
        f.measure("seat_use", formula="users / seats"),
        f.measure("size", attribute="size"),
        f.measure("mrr", subscription="mrr"),
    ]


def _company(store) -> None:
    zones = [None, "America/New_York", "Asia/Tokyo", "Europe/Berlin", "UTC"]
    rng = random.Random(7)
    rows = []
    for i in range(12):
        a = f"acc{i:02d}"
        start = date(2023, 9, 1) + timedelta(days=17 * i)
        end = date(2024, 3, 20) if i % 5 == 3 else None
        f.account(
            store,
            a,
            start=start,
            end=end,
            seats=float(3 + i % 4) if i % 3 else None,
            timezone=zones[i % len(zones)],
            attributes={"size": str(10 * i)} if i % 4 else None,
            quantity=5.0,
            units="seats",
            mrr=100.0 + i,
        )
        for _ in range(120):
            ts = datetime(2023, 11, 1) + timedelta(minutes=rng.randrange(0, 240_000))
            kind = rng.choice(["login", "login", "use", "nps", "report"])
            value = float(rng.randrange(0, 11)) if kind in ("use", "nps") else None
            rows.append((a, f"u{rng.randrange(5)}", kind, ts, value))
    # The first event, at the start of the data; events exactly on local midnights
    # of New York around the DST change.
    rows += [
        ("acc00", "u1", "login", datetime(2023, 11, 1, 0, 0)),
        ("acc01", "u1", "login", datetime(2024, 3, 10, 5, 0)),
        ("acc01", "u1", "login", datetime(2024, 3, 11, 4, 0)),
        ("acc01", "u1", "login", datetime(2024, 3, 11, 3, 59)),
    ]
    f.events(store, rows)
    f.subscription(store, "acc04", start=date(2024, 1, 1), product="addon", mrr=9.0)


def test_replay__many_dates_measures_equal_one_date_each(store):
    _company(store)
    measures = _measures()

    many = compute_measures_many(store, measures, DATES, SETTINGS)

    early = many.xs(date(2023, 11, 29), level="as_of")
    assert early[["logins", "weekly"]].notna().all().all()  # [11-01, 11-29)
    assert early[["change", "month", "nps", "monthly_days"]].isna().all().all()
    later = many.xs(date(2024, 2, 1), level="as_of")
    assert later[["change", "nps", "monthly_days"]].notna().all().all()
    for day in DATES:
        one = compute_measures(store, measures, day, SETTINGS).values
        got = many.xs(day, level="as_of")
        pd.testing.assert_frame_equal(
            got, one, check_names=False, check_index_type=False, rtol=1e-12
        )


def test_replay__scores_equal_score_accounts_on_each_date(store):
    _company(store)
    sc = f.scorecard(
        [
            {"name": "Use", "weight": 2, "measures": _measures()[:10]},
            {"name": "More", "weight": 1, "measures": _measures()[10:]},
            # Percentile points rank each date's accounts among themselves.
            {
                "name": "Rank",
                "weight": 1,
                "measures": [
                    f.measure("rank", events=["login"], scoring={"percentile": {}}),
                    f.measure(
                        "rank_in",
                        events=["login"],
                        window="1mo",
                        scoring={"percentile": {"within": "size"}},
                    ),
                ],
            },
        ],
        eligibility={"min_tenure": "30d", "min_coverage": 0.3},
    )

    frame = replay(store, sc, DATES, SETTINGS)

    rows = 0
    for day in DATES:
        run = score_accounts(store, sc, day, SETTINGS)
        for r in run.results:
            row = frame.loc[(r.account_id, day)]
            assert row["segment"] == r.segment
            assert row["status"] == r.status
            assert _same(row["score"], r.score)
            assert row["band"] == r.band or (r.band is None and pd.isna(row["band"]))
            assert row["coverage"] == r.coverage
            for g, s in r.groups.items():
                assert _same(row[f"group:{g}"], s)
            for name, m in r.measures.items():
                assert _same(row[f"value:{name}"], m.value), (r.account_id, name)
                assert _same(row[f"points:{name}"], m.points)
                assert row[f"weight:{name}"] == m.weight
            rows += 1
    assert rows == len(frame) > 30


def test_replay__only_data_before_each_date_counts(store):
    # The store holds three events; the data is declared to start well before them.
    settings = Settings(events_start=date(2024, 1, 1))
    f.account(store, "a", start=date(2024, 1, 1))
    f.events(
        store,
        [
            ("a", "u", "login", datetime(2024, 2, 28, 23, 59, 59)),
            ("a", "u", "login", datetime(2024, 2, 29, 0, 0)),  # the as-of instant
            ("a", "u", "login", datetime(2024, 3, 5)),
        ],
    )

    many = compute_measures_many(
        store, [f.measure("logins")], [date(2024, 2, 29), date(2024, 3, 6)], settings
    )

    assert many["logins"].to_dict() == {
        ("a", date(2024, 2, 29)): 1.0,
        ("a", date(2024, 3, 6)): 3.0,
    }


def _same(a: object, b: float | None) -> bool:
    if b is None:
        return a is None or (isinstance(a, float) and np.isnan(a))
    return a == pytest.approx(b, rel=1e-12)
