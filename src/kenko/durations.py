"""Trailing windows such as ``28d``, ``12w``, ``3mo`` and ``1y``.

A window W as of instant t always covers [t - W, t). Months and years step on the
calendar and clamp to the month's end (2024-03-31 minus 1mo is 2024-02-29), never by a
fixed number of days.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_PATTERN = re.compile(r"^\s*(\d+)\s*(d|w|mo|m|y)\s*$")
_UNITS = {"d": "d", "w": "w", "mo": "mo", "m": "mo", "y": "y"}


@dataclass(frozen=True, order=True)
class Duration:
    """A count of days, weeks, months or years."""

    n: int
    unit: str  # "d", "w", "mo" or "y"

    @classmethod
    def parse(cls, text: str | Duration) -> Duration:
        if isinstance(text, Duration):
            return text
        match = _PATTERN.match(str(text))
        if not match or int(match.group(1)) <= 0:
            raise ValueError(
                f"{text!r} is not a duration; write a positive number and a unit: "
                "'28d' (days), '12w' (weeks), '3mo' (months) or '1y' (years)"
            )
        return cls(int(match.group(1)), _UNITS[match.group(2)])

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    @property
    def is_calendar(self) -> bool:
        """True for months and years, whose length depends on the date."""
        return self.unit in ("mo", "y")

    def approx_days(self) -> float:
        """Length in days, months counted as 30.4375 days (for ordering and scaling)."""
        per = {"d": 1.0, "w": 7.0, "mo": 30.4375, "y": 365.25}[self.unit]
        return self.n * per

    def before(self, t: datetime | date, times: int = 1) -> datetime | date:
        """The instant ``times`` durations before t (t - times·W)."""
        if self.unit == "d":
            return t - timedelta(days=self.n * times)
        if self.unit == "w":
            return t - timedelta(weeks=self.n * times)
        months = self.n * times * (12 if self.unit == "y" else 1)
        return add_months(t, -months)

    def after(self, t: datetime | date, times: int = 1) -> datetime | date:
        """The instant ``times`` durations after t (t + times·W)."""
        if self.unit == "d":
            return t + timedelta(days=self.n * times)
        if self.unit == "w":
            return t + timedelta(weeks=self.n * times)
        months = self.n * times * (12 if self.unit == "y" else 1)
        return add_months(t, months)


def add_months(t: datetime | date, months: int) -> datetime | date:
    """Shift t by whole calendar months, clamping the day to the month's end."""
    index = t.year * 12 + (t.month - 1) + months
    year, month = divmod(index, 12)
    day = min(t.day, calendar.monthrange(year, month + 1)[1])
    return t.replace(year=year, month=month + 1, day=day)
