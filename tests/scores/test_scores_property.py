"""Property: events at or after the as-of instant never change that date's results."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import factories as f
from kenko.measures import compute_measures
from kenko.scores import score_accounts
from kenko.settings import Settings
from kenko.store import schema

# These stores hold only a test's own events: count the data as starting long
# before them, so windows reaching before the first event still have values.
SETTINGS = Settings(events_start=date(2000, 1, 1))
AS_OF = date(2024, 3, 10)
# 00:00 local on the as-of date, in UTC.
INSTANTS = {"utc": datetime(2024, 3, 10), "tokyo": datetime(2024, 3, 9, 15)}
TYPES = ["login", "nps", "report"]
CARD = f.scorecard(
    [
        {
            "name": "Engagement",
            "measures": [
                f.measure("logins"),
                f.measure("days", aggregation="active_days", events=["*"]),
                f.measure("since", aggregation="days_since_last"),
                f.measure("last", aggregation="last_value", events=["nps"]),
                f.measure("nps", aggregation="nps", events=["nps"]),
                f.measure("trend", aggregation="change", events=["report"]),
                f.measure("weekly", window="4w", per_period={"period": "1w"}),
                f.measure("pct", scoring={"percentile": {}}, events=["report"]),
            ],
        }
    ],
    eligibility={"min_tenure": None},
)
MEASURES = [m for g in CARD.groups for m in g.measures]

later_events = st.lists(
    st.tuples(
        st.sampled_from(sorted(INSTANTS)),
        st.sampled_from(["u1", "u2", None]),
        st.sampled_from(TYPES),
        st.integers(min_value=0, max_value=60 * 24 * 40),  # minutes after the instant
        st.one_of(st.none(), st.integers(0, 10).map(float)),
    ),
    min_size=1,
    max_size=8,
)


def _baseline(store):
    f.account(store, "utc")
    f.account(store, "tokyo", timezone="Asia/Tokyo")
    rows = []
    for a in INSTANTS:
        for i, kind in enumerate(TYPES * 3):
            ts = INSTANTS[a] - timedelta(days=2 * i + 1, minutes=7 * i)
            rows.append((a, f"u{i % 2}", kind, ts, float(i % 11)))
    f.events(store, rows)


@given(extra=later_events)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_property__events_at_or_after_as_of_change_nothing(duck_store, extra):
    store = duck_store
    with store.begin() as conn:
        for table in (
            schema.events,
            schema.account_attributes,
            schema.subscriptions,
            schema.accounts,
        ):
            conn.execute(table.delete())
    _baseline(store)
    before = compute_measures(store, MEASURES, AS_OF, SETTINGS).values
    scores = [r.to_dict() for r in score_accounts(store, CARD, AS_OF, SETTINGS).results]

    f.events(
        store,
        [(a, u, t, INSTANTS[a] + timedelta(minutes=m), v) for a, u, t, m, v in extra],
    )

    after = compute_measures(store, MEASURES, AS_OF, SETTINGS).values
    pd.testing.assert_frame_equal(before, after)
    assert [
        r.to_dict() for r in score_accounts(store, CARD, AS_OF, SETTINGS).results
    ] == (scores)
    with store.engine.connect() as conn:
        assert conn.execute(
            sa.select(sa.func.count()).select_from(schema.events)
        ).scalar()
