"""Windows end at local midnight and active days are local calendar days."""

from __future__ import annotations

from datetime import date, datetime

import factories as f
from kenko.measures import compute_measures
from kenko.settings import Settings

# These stores hold only the events each case needs, the first of them inside the
# windows; the event data is declared to start long before, so every window is
# covered (test_measures_data_start.py tests the data start itself).
SETTINGS = Settings(events_start=date(2000, 1, 1))


def _measures():
    return [
        f.measure("n", events=["*"]),
        f.measure("days", events=["*"], aggregation="active_days"),
        f.measure("since", events=["*"], aggregation="days_since_last"),
    ]


def test_timezones__tokyo_event_at_2330_utc_counts_on_the_next_local_day(store):
    f.account(store, "tokyo", timezone="Asia/Tokyo")
    f.account(store, "utc")
    rows = [
        # 2024-02-28 08:30 and 10:00 in Tokyo: one local day (two UTC days).
        (datetime(2024, 2, 27, 23, 30)),
        (datetime(2024, 2, 28, 1, 0)),
        # 2024-03-01 01:00 in Tokyo: after Tokyo's as-of instant (2024-02-29 15:00 UTC).
        (datetime(2024, 2, 29, 16, 0)),
    ]
    f.events(store, [(a, "u", "login", ts) for a in ("tokyo", "utc") for ts in rows])

    frame = compute_measures(store, _measures(), date(2024, 3, 1), SETTINGS)

    assert frame.values.loc["tokyo"].to_dict() == {"n": 2.0, "days": 1.0, "since": 2.0}
    # In UTC the same events fall on 02-27, 02-28 and 02-29, all before 03-01 00:00.
    assert frame.values.loc["utc"].to_dict() == {"n": 3.0, "days": 3.0, "since": 1.0}


def test_timezones__new_york_window_is_cut_at_local_midnight(store):
    f.account(store, "ny", timezone="America/New_York")
    f.account(store, "utc", timezone="UTC")
    # As of 2024-03-01 00:00 EST = 05:00 UTC; the 28d window starts 2024-02-02 05:00.
    rows = [
        datetime(2024, 2, 2, 4, 59),  # before the window
        datetime(2024, 2, 2, 5, 0),  # exactly its start: in
        datetime(2024, 3, 1, 4, 30),  # 2024-02-29 23:30 local: in
        datetime(2024, 3, 1, 5, 0),  # exactly the as-of instant: out
    ]
    f.events(store, [("ny", "u", "login", ts) for ts in rows])

    frame = compute_measures(store, _measures(), date(2024, 3, 1), SETTINGS)

    assert frame.values.loc["ny"].to_dict() == {"n": 2.0, "days": 2.0, "since": 1.0}


def test_timezones__active_days_follow_the_dst_change_inside_the_window(store):
    f.account(store, "ny", timezone="America/New_York")
    f.account(store, "tokyo", timezone="Asia/Tokyo")
    # New York moves from UTC-5 to UTC-4 at 2024-03-10 07:00 UTC.
    rows = [
        datetime(2024, 3, 10, 4, 30),  # 03-09 23:30 EST
        datetime(2024, 3, 11, 3, 30),  # 03-10 23:30 EDT
        datetime(2024, 3, 11, 4, 30),  # 03-11 00:30 EDT (03-10 with a fixed UTC-5)
        datetime(2024, 3, 15, 3, 59),  # 03-14 23:59 EDT: last event before 03-15 00:00
    ]
    f.events(store, [("ny", "u", "login", ts) for ts in rows])

    frame = compute_measures(store, _measures(), date(2024, 3, 15), SETTINGS)

    # Local days 03-09, 03-10, 03-11, 03-14; a single fixed offset would give 3.
    assert frame.values.loc["ny"].to_dict() == {"n": 4.0, "days": 4.0, "since": 1.0}
    assert frame.values.loc["tokyo"].to_dict() == {"n": 0.0, "days": 0.0, "since": 28.0}
