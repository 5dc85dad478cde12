"""Benchmark: kenko's scoring against a hand-written DuckDB query on the same data.

    python benchmarks/bench_score.py --accounts 10000 --events 2000000

Generates N accounts (one open line item each, with seats) and M events of five types
over the 180 days before the as-of date straight into a fresh DuckDB store file, then
times, in this process and on the same data:

  (a) kenko: ``compute_measures`` alone, and ``score_accounts`` + ``save_snapshots``;
  (b) one hand-written DuckDB SQL query computing the same aggregates (count,
      distinct_users, active_days, days_since_last, sum) for the same accounts and
      windows.

It prints both times, their ratio, events per second and peak memory, and checks that
the two agree on every aggregate for a sample of accounts (exit status 1 if not).
Each stage runs --repeat times (default 2) and the best time is reported; peak RSS
is the process's high-water mark after the stage. Accounts carry no time zone, so
windows are in UTC for both sides.
"""

from __future__ import annotations

import argparse
import logging
import math
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kenko.measures import compute_measures
from kenko.scorecard.model import Scorecard
from kenko.scores import save_snapshots, score_accounts
from kenko.settings import Settings
from kenko.store import Store, open_store

T = TypeVar("T")

SPAN_DAYS = 180  # events fall in the 180 days before the as-of date
EVENT_MIX = [  # (type, share in percent)
    ("login", 40),
    ("report_viewed", 30),
    ("export", 15),
    ("purchase", 10),
    ("ticket", 5),
]

SCORECARD = """\
name: bench
groups:
  - name: Deployment
    measures:
      - name: active_users_28d
        events: ["*"]
        aggregation: distinct_users
        window: 28d
        scoring: {linear: {zero_at: 0, full_at: 20}}
      - name: active_days_28d
        events: ["*"]
        aggregation: active_days
        window: 28d
        scoring: {linear: {zero_at: 0, full_at: 20}}
  - name: Adoption
    measures:
      - name: logins_28d
        events: [login]
        aggregation: count
        window: 28d
        scoring: {linear: {zero_at: 0, full_at: 100}}
      - name: days_since_login
        events: [login]
        aggregation: days_since_last
        window: 90d
        scoring: {linear: {zero_at: 30, full_at: 1}}
  - name: ROI
    measures:
      - name: exports_90d
        events: [export]
        aggregation: count
        window: 90d
        scoring: {linear: {zero_at: 0, full_at: 50}}
      - name: purchase_value_90d
        events: [purchase]
        aggregation: sum
        window: 90d
        missing: zero
        scoring: {percentile: {}}
"""

# The same aggregates, written by hand. Windows are [as_of - W, as_of).
HAND_SQL = """
SELECT a.account_id,
       count(*) FILTER (WHERE e.event_type = 'login' AND e.ts >= $t28) AS logins_28d,
       count(DISTINCT e.user_id) FILTER (WHERE e.ts >= $t28) AS active_users_28d,
       count(DISTINCT CAST(e.ts AS DATE)) FILTER (WHERE e.ts >= $t28)
           AS active_days_28d,
       coalesce(CAST($as_of AS DATE)
                - max(CAST(e.ts AS DATE)) FILTER (WHERE e.event_type = 'login'), 90)
           AS days_since_login,
       count(*) FILTER (WHERE e.event_type = 'export') AS exports_90d,
       sum(e.value) FILTER (WHERE e.event_type = 'purchase') AS purchase_value_90d
FROM (
    SELECT DISTINCT account_id FROM subscriptions
    WHERE start_date <= CAST($as_of AS DATE)
      AND (end_date IS NULL OR end_date > CAST($as_of AS DATE))
) a
LEFT JOIN events e
    ON e.account_id = a.account_id AND e.ts >= $t90 AND e.ts < $as_of
GROUP BY a.account_id
"""
MEASURES = [
    "logins_28d",
    "active_users_28d",
    "active_days_28d",
    "days_since_login",
    "exports_90d",
    "purchase_value_90d",
]


@dataclass
class Timing:
    seconds: float
    peak_rss_mb: float
    python_peak_mb: float | None = None


def generate(store: Store, accounts: int, events: int, as_of: date) -> None:
    """Fill the store with synthetic accounts, subscriptions and events (DuckDB SQL)."""
    cases = " ".join(
        f"WHEN r < {sum(s for _, s in EVENT_MIX[: i + 1])} THEN '{t}'"
        for i, (t, _) in enumerate(EVENT_MIX)
    )
    with store.begin() as conn:
        duck: Any = conn.connection.driver_connection
        duck.execute(
            """
            INSERT INTO accounts (account_id, name, seats, known_on, load_id)
            SELECT 'A' || lpad(CAST(i AS VARCHAR), 8, '0'), 'Account ' || i,
                   5 + i % 46, DATE '2000-01-01', 'bench'
            FROM range($n) t(i)
            """,
            {"n": accounts},
        )
        duck.execute(
            """
            INSERT INTO subscriptions (account_id, subscription_id, product, start_date,
                                       end_date, mrr, quantity, units, billing_months,
                                       load_id)
            SELECT 'A' || lpad(CAST(i AS VARCHAR), 8, '0'), 'S' || i, 'core',
                   CAST($as_of AS DATE) - CAST(30 + i % 700 AS INTEGER), NULL,
                   20.0 * (5 + i % 46), 5 + i % 46, 'seats', 1, 'bench'
            FROM range($n) t(i)
            """,
            {"n": accounts, "as_of": as_of},
        )
        duck.execute(
            f"""
            INSERT INTO events (account_id, user_id, event_type, ts, value, load_id)
            SELECT 'A' || lpad(CAST(acct AS VARCHAR), 8, '0'),
                   'A' || acct || '-u' || (hash(i, 2) % (5 + acct % 46)),
                   kind,
                   CAST($as_of AS TIMESTAMP)
                       - to_seconds(CAST(1 + hash(i, 3) % $span AS BIGINT)),
                   CASE WHEN kind = 'purchase' THEN (hash(i, 4) % 100000) / 100.0 END,
                   'bench'
            FROM (
                SELECT i, acct, CASE {cases} END AS kind
                FROM (SELECT i, CAST(hash(i, 1) % $n AS BIGINT) AS acct,
                             hash(i, 5) % 100 AS r
                      FROM range($m) t(i))
            )
            """,
            {"n": accounts, "m": events, "as_of": as_of, "span": SPAN_DAYS * 86400},
        )


def timed(fn: Callable[[], T], trace: bool, repeat: int = 1) -> tuple[T, Timing]:
    """Run fn ``repeat`` times; the best time, the last result."""
    best = math.inf
    python_peak = None
    for _ in range(repeat):
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
        if trace:
            python_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return result, Timing(best, peak_rss_mb(), python_peak)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def hand_query(store: Store, as_of: date) -> dict[str, dict[str, float]]:
    """The hand-written query's aggregates per account."""
    t = datetime(as_of.year, as_of.month, as_of.day)
    params = {"as_of": t, "t28": t - timedelta(days=28), "t90": t - timedelta(days=90)}
    with store.engine.connect() as conn:
        duck: Any = conn.connection.driver_connection
        rows = duck.execute(HAND_SQL, params).fetchall()
    return {r[0]: dict(zip(MEASURES, map(_float, r[1:]), strict=True)) for r in rows}


def _float(v: Any) -> float:
    return math.nan if v is None else float(v)


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2025, 7, 1))
    parser.add_argument("--store", type=Path, help="store file (default: a temp dir)")
    parser.add_argument("--sample", type=int, default=500, help="accounts compared")
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per stage; the best is reported"
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the Python heap peak per stage (slows kenko's stages)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    folder = Path(tempfile.mkdtemp(prefix="kenko-bench-"))
    path = args.store or folder / "bench.duckdb"
    if path.exists():
        parser.error(f"{path} exists; the benchmark wants a fresh store")
    scorecard = Scorecard.model_validate(yaml.safe_load(SCORECARD))
    measures = [m for g in scorecard.groups for m in g.measures]
    settings = Settings()

    with open_store(str(path), folder) as store:
        _, gen = timed(
            lambda: generate(store, args.accounts, args.events, args.as_of), False
        )
        print(
            f"generated {args.accounts:,} accounts, {args.events:,} events in "
            f"{gen.seconds:.1f}s into {path}"
        )

        frame, t_measures = timed(
            lambda: compute_measures(store, measures, args.as_of, settings),
            args.tracemalloc,
            args.repeat,
        )
        run, t_score = timed(
            lambda: score_accounts(
                store, scorecard, args.as_of, settings, scorecard_text=SCORECARD
            ),
            args.tracemalloc,
            args.repeat,
        )
        _, t_save = timed(
            lambda: save_snapshots(store, run), args.tracemalloc, args.repeat
        )
        hand, t_sql = timed(
            lambda: hand_query(store, args.as_of), args.tracemalloc, args.repeat
        )
    if args.store is None:
        shutil.rmtree(folder)

    # Agreement on a spread-out sample of accounts.
    ids = sorted(hand)
    step = max(1, len(ids) // max(args.sample, 1))
    sample = ids[::step][: args.sample]
    by_id = {r.account_id: r for r in run.results}
    problems = []
    if sorted(frame.account_ids) != ids:
        problems.append(
            f"accounts differ: kenko {len(frame.account_ids)}, SQL {len(ids)}"
        )
    for account in sample:
        for name in MEASURES:
            want = hand[account][name]
            got = float(frame.values.at[account, name])
            scored = by_id[account].measures[name].value
            scored = math.nan if scored is None else float(scored)
            if not (_same(got, want) and _same(scored, want)):
                problems.append(
                    f"{account} {name}: kenko {got} (scored {scored}), SQL {want}"
                )

    # Report.
    kenko_total = t_score.seconds + t_save.seconds
    rows = [
        ("kenko measures only", t_measures),
        ("kenko score_accounts", t_score),
        ("kenko save_snapshots", t_save),
        ("hand-written DuckDB SQL", t_sql),
    ]
    print(f"\n{'stage':26} {'seconds':>9} {'events/s':>13} {'peak RSS MB':>12}", end="")
    print(f" {'py heap MB':>11}" if args.tracemalloc else "")
    for label, t in rows:
        line = (
            f"{label:26} {t.seconds:9.3f} {args.events / t.seconds:13,.0f} "
            f"{t.peak_rss_mb:12.0f}"
        )
        if t.python_peak_mb is not None:
            line += f" {t.python_peak_mb:11.1f}"
        print(line)
    print(
        f"\nkenko score + save {kenko_total:.3f}s; "
        f"ratio to SQL: {kenko_total / t_sql.seconds:.1f}x "
        f"(measures only {t_measures.seconds / t_sql.seconds:.1f}x)"
    )
    print(
        f"accounts scored: {len(run.results):,}; "
        f"compared: {len(sample)} accounts × {len(MEASURES)} measures"
    )
    if problems:
        print(f"DISAGREE on {len(problems)} values; first ones:")
        for p in problems[:10]:
            print("  " + p)
        return 1
    print("kenko and the hand-written SQL agree on every compared value")
    return 0


if __name__ == "__main__":
    sys.exit(main())
