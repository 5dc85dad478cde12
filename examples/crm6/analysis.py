"""Which crm6 behaviours warn of churn? The evidence behind crm6/scorecard.yaml.

For each monthly as-of date 2022-07-01 .. 2023-06-01 this takes the accounts with a
line item active on that date, computes point-in-time features from what was known
before it (events strictly before the as-of instant, the line items active on it) and
labels each account by whether it churns within 180 days: its last line item ends in
(as_of, as_of + 180d] and nothing follows. Periods ending on or after 2024-01-01 were
still running when the export was taken, so those accounts count as retained.

It prints, per feature, the rank-based ROC AUC of "higher value means churn" pooled
over all as-of dates, and separately over the first and the second six dates (a
feature whose evidence flips between halves is noise), then the spread of the
features the scorecard uses, for retained and churning accounts, to set anchors.

Run from anywhere:  python examples/crm6/analysis.py [path/to/shared/data/crm6]
Needs only duckdb.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "shared" / "data" / "crm6"
FIRST_AS_OF, LAST_AS_OF = "2022-07-01", "2023-06-01"
SPLIT = "2023-01-01"  # first half: as-of dates before it
HORIZON_DAYS = 180
DATA_END = "2024-01-01"  # periods ending on/after it were still running
QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9]

# Features whose spread is printed: those the scorecard scores.
SCORECARD_FEATURES = [
    "active_users_28d",
    "seat_use_28d",
    "meeting_28d",
    "meeting_per_seat_28d",
    "events_per_seat_28d",
    "events_per_active_user_28d",
    "win_opportunity_per_seat_28d",
    "create_opportunity_per_seat_28d",
    "add_lead_per_seat_28d",
    "email_lead_per_seat_28d",
    "lead_outreach_per_seat_28d",
    "unsub_lead_28d",
    "unsub_lead_per_seat_28d",
    "active_days_28d",
    "days_since_last_event",
    "events_change_28d",
    "win_value_per_seat_28d",
    "mrr",
    "tenure_days",
]


def connect(data: Path) -> duckdb.DuckDBPyConnection:
    """Views over the export, with a calendar day per event."""
    con = duckdb.connect()
    con.execute(
        f"""
        CREATE VIEW events AS
            SELECT account_id, user_id, event_type, event_time AS ts,
                   CAST(event_time AS DATE) AS day, event_value AS value
            FROM read_parquet('{data / "events.parquet"}');
        CREATE VIEW subscriptions AS
            SELECT * FROM read_csv('{data / "subscriptions.csv"}');
        CREATE VIEW accounts AS
            SELECT * FROM read_csv('{data / "accounts.csv"}');
        CREATE TABLE as_of_dates AS
            SELECT CAST(d AS DATE) AS as_of
            FROM range(DATE '{FIRST_AS_OF}', DATE '{LAST_AS_OF}' + 1, INTERVAL 1 MONTH)
                AS t(d);
        """
    )
    return con


def build_features(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create table ``features`` (as_of, account_id, label, feature columns...)."""
    types = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT event_type FROM events ORDER BY 1"
        ).fetchall()
    ]

    # Daily totals keep the window sums cheap; a 56-day slice per as-of date holds the
    # current 28 days and the 28 before them. Everything is strictly before as_of.
    con.execute(
        """
        CREATE TABLE daily AS
            SELECT account_id, event_type, day, count(*) AS n, sum(value) AS value
            FROM events GROUP BY ALL;
        CREATE TABLE user_days AS
            SELECT DISTINCT account_id, user_id, day FROM events;
        CREATE TABLE active AS
            SELECT a.as_of, s.account_id,
                   sum(s.mrr) AS mrr,
                   sum(s.quantity) FILTER (WHERE s.units = 'users') AS seats
            FROM as_of_dates a
            JOIN subscriptions s ON s.start_date <= a.as_of AND a.as_of < s.end_date
            GROUP BY ALL;
        """
    )
    per_type = ",\n".join(
        f"coalesce(sum(n) FILTER (WHERE event_type = '{t}' AND day >= as_of - 28), 0)"
        f' AS "{t}_28d"'
        for t in types
    )
    con.execute(
        f"""
        CREATE TABLE windows AS
            SELECT a.as_of, a.account_id,
                   {per_type},
                   coalesce(sum(n) FILTER (WHERE day >= as_of - 28), 0) AS events_28d,
                   coalesce(sum(n) FILTER (WHERE day < as_of - 28), 0)
                       AS events_prev_28d,
                   coalesce(sum(value) FILTER (
                       WHERE event_type = 'win_opportunity' AND day >= as_of - 28), 0)
                       AS win_value_28d,
                   count(DISTINCT day) FILTER (WHERE day >= as_of - 28)
                       AS active_days_28d
            FROM active a
            LEFT JOIN daily d
                ON d.account_id = a.account_id AND d.day < a.as_of
                AND d.day >= a.as_of - 56
            GROUP BY ALL;
        CREATE TABLE users AS
            SELECT a.as_of, a.account_id, count(DISTINCT u.user_id) AS active_users_28d
            FROM active a
            LEFT JOIN user_days u
                ON u.account_id = a.account_id AND u.day < a.as_of
                AND u.day >= a.as_of - 28
            GROUP BY ALL;
        CREATE TABLE last_seen AS
            SELECT a.as_of, a.account_id, a.as_of - max(d.day) AS days_since_last_event
            FROM active a
            LEFT JOIN daily d ON d.account_id = a.account_id AND d.day < a.as_of
            GROUP BY a.as_of, a.account_id;
        CREATE TABLE history AS
            SELECT account_id, min(start_date) AS first_start, max(end_date) AS last_end
            FROM subscriptions GROUP BY ALL;
        """
    )
    per_seat = ",\n".join(f'"{t}_28d" / seats AS "{t}_per_seat_28d"' for t in types)
    con.execute(
        f"""
        CREATE TABLE features AS
            SELECT a.as_of, a.account_id,
                   CAST(h.last_end > a.as_of
                        AND h.last_end <= a.as_of + {HORIZON_DAYS}
                        AND h.last_end < DATE '{DATA_END}' AS INTEGER) AS label,
                   w.* EXCLUDE (as_of, account_id),
                   u.active_users_28d,
                   u.active_users_28d / a.seats AS seat_use_28d,
                   w.events_28d / a.seats AS events_per_seat_28d,
                   (w.email_lead_28d + w.call_lead_28d) / a.seats
                       AS lead_outreach_per_seat_28d,
                   w.events_28d / nullif(u.active_users_28d, 0)
                       AS events_per_active_user_28d,
                   w.win_value_28d / a.seats AS win_value_per_seat_28d,
                   {per_seat},
                   (w.events_28d - w.events_prev_28d) / nullif(w.events_prev_28d, 0)
                       AS events_change_28d,
                   -- no event ever before as_of: as stale as the longest gap seen
                   coalesce(l.days_since_last_event, 365) AS days_since_last_event,
                   a.mrr, a.seats,
                   a.as_of - h.first_start AS tenure_days,
                   a.as_of - c.date_of_birth AS customer_age_days
            FROM active a
            JOIN windows w USING (as_of, account_id)
            JOIN users u USING (as_of, account_id)
            JOIN last_seen l USING (as_of, account_id)
            JOIN history h USING (account_id)
            JOIN accounts c USING (account_id)
        """
    )
    names = [r[0] for r in con.execute("DESCRIBE features").fetchall()]
    return [n for n in names if n not in ("as_of", "account_id", "label")]


def auc_table(
    con: duckdb.DuckDBPyConnection, features: list[str], table: str = "features"
) -> list[tuple[Any, ...]]:
    """Per feature: n, churners, AUC pooled, AUC first half, AUC second half.

    AUC = P(value of a churner > value of a retained account), ties counting half:
    the Mann-Whitney statistic from mid-ranks. Rows with no value are left out.
    """
    cols = ", ".join(f'CAST("{f}" AS DOUBLE) AS "{f}"' for f in features)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE long AS
            UNPIVOT (SELECT as_of, account_id, label, {cols} FROM {table})
            ON COLUMNS(* EXCLUDE (as_of, account_id, label))
            INTO NAME feature VALUE x
        """
    )
    return con.execute(
        f"""
        WITH sample AS (
            SELECT *, 'all' AS part FROM long
            UNION ALL
            SELECT *, CASE WHEN as_of < DATE '{SPLIT}' THEN 'first' ELSE 'second' END
            FROM long
        ),
        ranked AS (
            SELECT feature, part, label,
                   rank() OVER w + (count(*) OVER (PARTITION BY feature, part, x) - 1)
                       / 2.0 AS mid_rank
            FROM sample
            WHERE x IS NOT NULL AND NOT isnan(x)
            WINDOW w AS (PARTITION BY feature, part ORDER BY x)
        ),
        auc AS (
            SELECT feature, part, count(*) AS n, sum(label) AS churners,
                   (sum(mid_rank) FILTER (WHERE label = 1)
                    - sum(label) * (sum(label) + 1) / 2.0)
                   / (sum(label) * (count(*) - sum(label))) AS auc
            FROM ranked GROUP BY ALL
        )
        SELECT feature,
               max(n) FILTER (WHERE part = 'all'),
               max(churners) FILTER (WHERE part = 'all'),
               max(auc) FILTER (WHERE part = 'all') AS pooled,
               max(auc) FILTER (WHERE part = 'first'),
               max(auc) FILTER (WHERE part = 'second')
        FROM auc GROUP BY feature
        ORDER BY abs(pooled - 0.5) DESC
        """
    ).fetchall()


def spreads(
    con: duckdb.DuckDBPyConnection, features: list[str]
) -> list[tuple[Any, ...]]:
    """Quantiles of each feature among retained (label 0) and churning accounts."""
    rows = []
    for f in features:
        for label in (0, 1):
            q = con.execute(
                f'SELECT quantile_cont("{f}", {QUANTILES}) FROM features '
                "WHERE label = ?",
                [label],
            ).fetchone()
            rows.append((f, label, q[0] if q else None))
    return rows


def churn_by_quintile(
    con: duckdb.DuckDBPyConnection, feature: str
) -> list[tuple[Any, ...]]:
    """Churn rate in each fifth of the feature's values (pooled over as-of dates)."""
    return con.execute(
        f"""
        SELECT bucket, min(x), max(x), count(*), avg(label)
        FROM (SELECT "{feature}" AS x, label,
                     ntile(5) OVER (ORDER BY "{feature}", account_id, as_of) AS bucket
              FROM features WHERE "{feature}" IS NOT NULL)
        GROUP BY bucket ORDER BY bucket
        """
    ).fetchall()


def score_preview(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """AUC of the scorecard's score, its points computed as scorecard.yaml says.

    Mirrors the scored measures of scorecard.yaml (weights 20 / 35 / 45 for
    tenure, meetings and lead outreach); the risk is 100 - score.
    """
    con.execute(
        """
        CREATE OR REPLACE TABLE preview AS
        WITH points AS (
            SELECT as_of, account_id, label,
                   greatest(0, least(1, (tenure_days - 60) / 390.0)) * 100 AS tenure,
                   CASE WHEN meeting_28d >= 1 THEN 100 ELSE 30 END AS meetings,
                   greatest(0, least(1, (8.5 - lead_outreach_per_seat_28d) / 7.6))
                       * 100 AS outreach
            FROM features
        )
        SELECT *, 100 - (20 * tenure + 35 * meetings + 45 * outreach) / 100
            AS score_risk
        FROM points
        """
    )
    return auc_table(con, ["score_risk"], "preview")


def main(data: Path = DATA) -> None:
    con = connect(data)
    features = build_features(con)
    n, churners, dates = con.execute(
        "SELECT count(*), sum(label), count(DISTINCT as_of) FROM features"
    ).fetchone() or (0, 0, 0)
    print(
        f"crm6: {n} account-dates over {dates} as-of dates, {churners} churn within "
        f"{HORIZON_DAYS}d (rate {churners / n:.3f})"
    )
    per_date = con.execute(
        "SELECT string_agg(strftime(as_of, '%Y-%m') || ':' || cnt || '/' || churn, "
        "'  ') "
        "FROM (SELECT as_of, count(*) cnt, sum(label) churn FROM features "
        "GROUP BY 1 ORDER BY 1)"
    ).fetchone()
    print(per_date[0] if per_date else "")

    print("\nAUC of 'higher value -> churn' (below 0.5: higher value -> renews)")
    print(
        f"{'feature':40} {'n':>6} {'churn':>5} {'AUC':>6} {'1st':>6} {'2nd':>6}  health"
    )
    for feature, rows, churn, pooled, first, second in auc_table(con, features):
        direction = "higher is better" if pooled < 0.5 else "lower is better"
        print(
            f"{feature:40} {rows:6d} {churn:5d} {pooled:6.3f} {first:6.3f} "
            f"{second:6.3f}  {direction}"
        )

    print("\nSpread of the scorecard's features, retained (0) and churning (1)")
    print(
        f"{'feature':34} {'':2}"
        + "".join(f"{'p' + str(int(q * 100)):>9}" for q in QUANTILES)
    )
    for feature, label, q in spreads(con, SCORECARD_FEATURES):
        values = "".join(f"{v:9.3f}" for v in q) if q else ""
        print(f"{feature:34} {label:2d}{values}")

    print("\nChurn rate by fifth of the feature")
    for feature in (
        "lead_outreach_per_seat_28d",
        "events_per_seat_28d",
        "tenure_days",
        "seat_use_28d",
        "mrr",
    ):
        cells = "  ".join(
            f"[{lo:.3g}..{hi:.3g}] {rate:.3f}"
            for _, lo, hi, _, rate in churn_by_quintile(con, feature)
        )
        print(f"{feature:26} {cells}")
    for has, rows, rate in con.execute(
        "SELECT meeting_28d > 0, count(*), avg(label) FROM features "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall():
        print(
            f"meetings in 28d: {'some' if has else 'none'}: {rows} account-dates, "
            f"churn {rate:.3f}"
        )

    (_, rows, churn, pooled, first, second) = score_preview(con)[0]
    print(
        f"\nscorecard.yaml preview: AUC of low score -> churn {pooled:.3f} "
        f"(1st {first:.3f} / 2nd {second:.3f}; {rows} account-dates, {churn} churn)"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
