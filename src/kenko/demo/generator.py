"""Writing the seeded sample company's files.

``generate`` writes accounts, subscriptions and events of a simulated SaaS company
(see :mod:`kenko.demo.company`), plus a ``kenko.yaml`` that maps them and a DEAR
``scorecard.yaml`` that scores them. The same seed always writes the same bytes.
"""

from __future__ import annotations

import gzip
import io
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from kenko.demo.company import Company, simulate
from kenko.demo.templates import SCORECARD_YAML, SETTINGS_YAML
from kenko.durations import add_months

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo files were written and the span of time they cover."""

    out_dir: Path
    accounts: Path
    subscriptions: Path
    events: Path
    settings: Path
    scorecard: Path
    start: date  # first day of data
    end: date  # the day after the last day of data
    as_of: date  # the natural as-of date of the demo: "today", the day data stops

    @property
    def data(self) -> list[Path]:
        return [self.accounts, self.subscriptions, self.events]


def generate(
    out_dir: Path,
    *,
    seed: int = 7,
    accounts: int = 300,
    start: date = date(2024, 1, 1),
    months: int = 18,
    end: date | None = None,
) -> DemoFiles:
    """Write a simulated company's files into ``out_dir`` and return their paths.

    The data covers ``months`` calendar months from ``start``; give ``end`` instead
    (e.g. ``date.today()``) to have it stop on that day, ``months`` before it. The
    demo's as-of date is the day the data stops.
    """
    if accounts < 1 or months < 1:
        raise ValueError(
            f"need at least one account and one month (got {accounts}, {months})"
        )
    if end is not None:
        start = add_months(end, -months)
    company = simulate(seed, accounts, start, months)
    end = add_months(start, months)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(
        out_dir=out_dir,
        accounts=out_dir / "accounts.csv",
        subscriptions=out_dir / "subscriptions.csv",
        events=out_dir / "events.csv.gz",
        settings=out_dir / "kenko.yaml",
        scorecard=out_dir / "scorecard.yaml",
        start=start,
        end=end,
        as_of=end,
    )
    _write(company, files)
    log.info(
        "demo company written to %s: %d accounts, %d subscription rows, %d events",
        out_dir,
        len(company.accounts),
        len(company.subscriptions),
        len(company.events),
    )
    return files


def _write(company: Company, files: DemoFiles) -> None:
    company.accounts.to_csv(files.accounts, index=False, lineterminator="\n")
    company.subscriptions.to_csv(
        files.subscriptions, index=False, lineterminator="\n", date_format="%Y-%m-%d"
    )

    events = company.events.copy()
    events["timestamp"] = events["timestamp"] + "Z"
    value = events["value"].to_numpy()
    known = ~np.isnan(value)
    shown = np.full(len(value), "", dtype=object)
    shown[known] = value[known].astype(int).astype(str)
    events["value"] = shown
    # mtime=0 and no file name in the gzip header keep the bytes the same per seed.
    with (
        files.events.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6
        ) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        events.to_csv(text, index=False, lineterminator="\n")

    files.settings.write_text(SETTINGS_YAML, encoding="utf-8")
    files.scorecard.write_text(SCORECARD_YAML, encoding="utf-8")
