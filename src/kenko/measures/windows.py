"""Window boundaries per time zone, computed in Python and joined as a small table.

Every bound is a local calendar date (the as-of date D, D - W, D - 2W, period edges):
its instant is 00:00 of that date in the account's time zone, converted to naive UTC
(events.ts is naive UTC). Stepping back on local dates keeps a window on local
midnights across a DST change: 28d before D is 00:00 local on D - 28, not D - 672h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kenko.durations import Duration


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``zone`` as a naive UTC datetime."""
    local = datetime.combine(day, time(0), tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)


def start_of(window: Duration, as_of: date, times: int = 1) -> date:
    """The local date a window of ``times`` x ``window`` before ``as_of`` starts on."""
    start = window.before(as_of, times)
    assert isinstance(start, date)
    return start


def _offset_seconds(instant: datetime, zone: ZoneInfo) -> int:
    offset = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


@dataclass(frozen=True)
class ZoneBounds:
    """The instants of the needed local dates and the UTC offsets between them."""

    timezone: str
    instants: dict[date, datetime]
    # offsets[0] applies before transitions[0], offsets[i] from transitions[i - 1] on.
    transitions: list[datetime]
    offsets: list[int]


def zone_bounds(timezone: str, days: set[date]) -> ZoneBounds:
    """Bounds for ``days`` in ``timezone``, with each UTC offset change between."""
    zone = ZoneInfo(timezone)
    instants = {d: local_midnight_utc(d, zone) for d in sorted(days)}
    first, last = min(instants.values()), max(instants.values())
    transitions: list[datetime] = []
    offsets = [_offset_seconds(first, zone)]
    # Sample once a day, then bisect to the second where the offset changes.
    step = timedelta(days=1)
    lo = first
    while lo < last:
        hi = min(lo + step, last)
        if _offset_seconds(hi, zone) != offsets[-1]:
            a, b = lo, hi
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                mid = mid.replace(microsecond=0)
                if mid <= a:
                    break
                if _offset_seconds(mid, zone) == offsets[-1]:
                    a = mid
                else:
                    b = mid
            transitions.append(b)
            offsets.append(_offset_seconds(b, zone))
        lo = hi
    return ZoneBounds(timezone, instants, transitions, offsets)
