from datetime import date, datetime

import pytest

from kenko.durations import Duration


@pytest.mark.parametrize(
    ("text", "n", "unit"),
    [
        ("28d", 28, "d"),
        ("12w", 12, "w"),
        ("3mo", 3, "mo"),
        ("3m", 3, "mo"),
        ("1y", 1, "y"),
    ],
)
def test_duration__parses_every_unit(text: str, n: int, unit: str) -> None:
    assert Duration.parse(text) == Duration(n, unit)


@pytest.mark.parametrize("text", ["", "28", "0d", "-3d", "3 days", "1.5w"])
def test_duration__refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        Duration.parse(text)


def test_duration__months_clamp_to_month_end() -> None:
    assert Duration.parse("1mo").before(date(2024, 3, 31)) == date(2024, 2, 29)
    assert Duration.parse("1mo").after(date(2024, 1, 31)) == date(2024, 2, 29)
    assert Duration.parse("1y").before(date(2024, 2, 29)) == date(2023, 2, 28)


def test_duration__days_and_weeks_are_exact_intervals() -> None:
    t = datetime(2024, 3, 1)
    assert Duration.parse("28d").before(t) == datetime(2024, 2, 2)
    assert Duration.parse("2w").before(t, times=2) == datetime(2024, 2, 2)
