"""How much a backtest over many dates costs against one scoring run.

    python benchmarks/bench_backtest.py [STORE_DIR]

Loads the crm6 export into STORE_DIR (a temporary folder by default; an existing
kenko.duckdb there is reused), then times one ``score_accounts`` and a weekly
``backtest`` of the example scorecard over 2022-07-01 .. 2023-06-30 and prints
the ratio (backtest time / one scoring run), against the number of dates.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import yaml

from kenko.load import load_files
from kenko.scorecard import read_scorecard
from kenko.scores import score_accounts
from kenko.settings import Settings
from kenko.store import open_store
from kenko.validation.backtest import as_of_dates, backtest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "crm6"
CRM6 = REPO.parent / "shared" / "data" / "crm6"


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    fresh = not (root / "kenko.duckdb").exists()
    store = open_store("kenko.duckdb", root)
    if fresh:
        files = ["accounts.csv", "subscriptions.csv", "events.parquet"]
        load_files(store, settings, [CRM6 / f for f in files])
    sc = read_scorecard(EXAMPLE / "scorecard.yaml")
    start, end = date(2022, 7, 1), date(2023, 6, 30)
    n = len(as_of_dates(start, end, "1w"))
    warnings.simplefilter("ignore")

    score_accounts(store, sc.scorecard, date(2023, 1, 2), settings)  # warm up
    one = min(
        _time(lambda: score_accounts(store, sc.scorecard, date(2023, 1, 2), settings))
        for _ in range(3)
    )
    many = _time(
        lambda: backtest(store, sc.scorecard, settings, start, end, "1w", "180d")
    )
    print(f"one score_accounts:           {one:8.3f} s")
    print(f"backtest over {n} weekly dates: {many:8.3f} s")
    print(f"ratio backtest / one scoring: {many / one:8.1f}  (vs {n} separate runs)")
    store.close()


def _time(call: object) -> float:
    t = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
