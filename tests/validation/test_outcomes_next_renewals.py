"""The vectorised next renewal agrees with the one-item rule on arbitrary items."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kenko.validation.outcomes import next_renewal, next_renewals

items = st.tuples(
    st.dates(date(2019, 1, 1), date(2025, 12, 31)),
    st.sampled_from([None, 0, 1, 3, 6, 12, 24]),
    st.one_of(st.none(), st.integers(1, 1000)),
    st.integers(0, 1000),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(items, min_size=1, max_size=40))
def test_next_renewals__match_next_renewal_item_by_item(rows) -> None:
    frame = pd.DataFrame(
        [
            (
                start,
                months,
                None if end is None else start + timedelta(days=end),
                start + timedelta(days=after),
            )
            for start, months, end, after in rows
        ],
        columns=["start", "months", "end", "after"],
    )
    got = next_renewals(frame["start"], frame["months"], frame["end"], frame["after"])
    expected = [
        next_renewal(
            start,
            months,
            None if end is None else start + timedelta(days=end),
            start + timedelta(days=after),
        )
        for start, months, end, after in rows
    ]
    assert [None if pd.isna(d) else d.date() for d in got] == expected


def test_next_renewals__month_ends_clamp_from_the_original_start() -> None:
    start = pd.Series([date(2024, 1, 31)] * 3)
    after = pd.Series([date(2024, 2, 1), date(2024, 3, 1), date(2024, 3, 31)])
    got = next_renewals(start, pd.Series([1, 1, 1]), pd.Series([None] * 3), after)
    assert [d.date() for d in got] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]
