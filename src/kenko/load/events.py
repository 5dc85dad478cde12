"""Events: one row per product action, meeting, survey answer or ticket."""

from __future__ import annotations

import sqlalchemy as sa

from kenko.durations import Duration
from kenko.load.fields import Check, lit
from kenko.load.stage import FileContext, Plan, arrow, scalar, stage_table
from kenko.store import Store, schema

_COLUMNS = ("account_id", "user_id", "event_type", "ts", "value")


def plan(ctx: FileContext) -> Plan:
    limit = Duration.parse(ctx.settings.future_tolerance).after(ctx.now)
    checks = [
        unknown_account_check(),
        Check(
            "timestamp",
            f"v_timestamp > TIMESTAMP {lit(f'{limit:%Y-%m-%d %H:%M:%S.%f}')}",
            lit(f"in the future (after {limit:%Y-%m-%d %H:%M} UTC)"),
        ),
    ]
    for event_type, rule in ctx.source.value_rules.items():
        is_type = f"v_type = {lit(event_type)}"
        if rule.required:
            checks.append(
                Check(
                    "value",
                    f"{is_type} AND v_value IS NULL",
                    lit(f"{event_type} events need a value"),
                )
            )
        if rule.integer:
            checks.append(
                Check(
                    "value",
                    f"{is_type} AND v_value <> floor(v_value)",
                    lit(f"{event_type} value must be a whole number"),
                )
            )
        if rule.min is not None or rule.max is not None:
            low = f"v_value < {rule.min}" if rule.min is not None else "false"
            high = f"v_value > {rule.max}" if rule.max is not None else "false"
            checks.append(
                Check(
                    "value",
                    f"{is_type} AND ({low} OR {high})",
                    lit(f"{event_type} value must be {_range(rule.min, rule.max)}"),
                )
            )
    return Plan(checks=checks)


def unknown_account_check() -> Check:
    return Check(
        "account_id",
        "v_account_id NOT IN (SELECT account_id FROM known_accounts)",
        "format('unknown account ''{}''', v_account_id)",
    )


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    return f"at least {low:g}" if low is not None else f"at most {high:g}"


def write(ctx: FileContext, store: Store, conn: sa.Connection) -> tuple[int, int]:
    """Insert the accepted events that are new; return (accepted, duplicates)."""
    con = ctx.con
    ok = con.sql("SELECT count(*) FROM checked WHERE _field IS NULL").fetchall()[0]
    n_ok = int(ok[0]) if ok else 0
    rows = arrow(
        con,
        "SELECT DISTINCT v_account_id AS account_id, v_user_id AS user_id, "
        f"v_type AS event_type, v_timestamp AS ts, v_value AS value, "
        f"{lit(ctx.load_id)} AS load_id FROM checked WHERE _field IS NULL",
    )
    in_file = n_ok - rows.num_rows
    if rows.num_rows == 0:
        return 0, in_file

    events = schema.events
    low, high = con.sql(
        "SELECT min(v_timestamp), max(v_timestamp) FROM checked WHERE _field IS NULL"
    ).fetchall()[0]
    overlap = conn.execute(
        sa.select(sa.literal(1)).where(events.c.ts.between(low, high)).limit(1)
    ).first()
    if overlap is None:
        store.insert_arrow(conn, events, rows)
        return rows.num_rows, in_file

    # Some stored events fall in this file's time range: merge, skipping equal rows.
    stage = stage_table(conn, events, "_kenko_stage_events")
    store.insert_arrow(conn, stage, rows)
    same = sa.and_(*[events.c[c].is_not_distinct_from(stage.c[c]) for c in _COLUMNS])
    stored = sa.exists().where(same).correlate(stage)
    in_store = scalar(conn, sa.select(sa.func.count()).select_from(stage).where(stored))
    conn.execute(
        events.insert().from_select(
            [*_COLUMNS, "load_id"],
            sa.select(*[stage.c[c] for c in (*_COLUMNS, "load_id")]).where(~stored),
        )
    )
    stage.drop(conn)
    return rows.num_rows - in_store, in_file + in_store
