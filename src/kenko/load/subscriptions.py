"""Subscriptions: one row per line item and billing period, MRR made monthly."""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa

from kenko.errors import DataError
from kenko.load.billing import MRR_SQL
from kenko.load.events import unknown_account_check
from kenko.load.fields import Check, lit
from kenko.load.stage import (
    FileContext,
    Plan,
    arrow,
    conflict_rejections,
    scalar,
    stage_table,
)
from kenko.store import Store, schema

_CONTENT = (
    "account_id",
    "subscription_id",
    "product",
    "start_date",
    "end_date",
    "mrr",
    "quantity",
    "units",
    "billing_months",
    "end_reason",
    "canceled_at",
)


def plan(ctx: FileContext) -> Plan:
    mapped = ctx.mapped
    if "mrr" not in mapped and "price" not in mapped:
        raise DataError(
            f"no column for 'mrr' or 'price'; columns found: {', '.join(ctx.columns)}",
            where=ctx.file,
            fix="add `columns: {mrr: your_column}` (monthly amounts) or "
            "`columns: {price: ..., billing_term: ...}` under `subscriptions:` in "
            "kenko.yaml",
        )
    checks = []
    if "mrr" in mapped:
        mrr = "v_mrr"
        quantity = "v_quantity"
        checks.append(Check("mrr", "s_mrr IS NULL", lit("missing mrr")))
    else:
        if "billing_term" not in mapped:
            raise DataError(
                "prices need a billing term, and no column holds one; columns found: "
                f"{', '.join(ctx.columns)}",
                where=ctx.file,
                fix="add `columns: {billing_term: your_column}` (or `constants: "
                "{billing_term: monthly}`) under `subscriptions:` in kenko.yaml",
            )
        quantity = "coalesce(v_quantity, 1.0)"
        mrr = MRR_SQL.format(
            months="v_billing_term",
            price="v_price",
            quantity=quantity,
            discount="coalesce(v_discount, 0.0)",
        )
        checks.append(Check("price", "s_price IS NULL", lit("missing price")))
        checks.append(
            Check("billing_term", "s_billing_term IS NULL", lit("missing billing term"))
        )
    checks += [
        Check(
            "end_date",
            "v_end_date <= v_start_date",
            "format('end date is not after the start date {}', v_start_date)",
        ),
        unknown_account_check(),
    ]
    return Plan(derived=[("_mrr", mrr), ("_quantity", quantity)], checks=checks)


def write(
    ctx: FileContext, store: Store, conn: sa.Connection
) -> tuple[int, int, pa.Table]:
    """Merge the accepted line items; return (accepted, duplicates, conflicts)."""
    con = ctx.con
    content = (
        "v_account_id AS account_id, v_subscription_id AS subscription_id, "
        "v_product AS product, v_start_date AS start_date, v_end_date AS end_date, "
        "_mrr AS mrr, _quantity AS quantity, v_units AS units, "
        "v_billing_term AS billing_months, v_end_reason AS end_reason, "
        "v_canceled_at AS canceled_at"
    )
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE items AS SELECT _kenko_row, {content} "
        "FROM checked WHERE _field IS NULL"
    )
    record = f"struct_pack({', '.join(_CONTENT)})"
    window = (
        "OVER (PARTITION BY account_id, coalesce(subscription_id, product), "
        "start_date ORDER BY _kenko_row)"
    )
    con.sql(
        "CREATE OR REPLACE TEMP TABLE items_marked AS SELECT *, "
        f"row_number() {window} AS _n, first_value(_kenko_row) {window} AS _first, "
        f"{record} IS DISTINCT FROM first_value({record}) {window} AS _conflict "
        "FROM items"
    )
    conflicts = conflict_rejections(
        ctx,
        "items_marked",
        "subscription_id" if "subscription_id" in ctx.mapped else "product",
        "coalesce(subscription_id, product)",
    )
    row = con.sql(
        "SELECT count(*) FILTER (WHERE _n > 1 AND NOT _conflict) FROM items_marked"
    ).fetchall()[0]
    in_file = int(row[0]) if row else 0
    rows = arrow(
        con,
        f"SELECT {', '.join(_CONTENT)}, {lit(ctx.load_id)} AS load_id "
        "FROM items_marked WHERE _n = 1 ORDER BY _kenko_row",
    )
    if rows.num_rows == 0:
        return 0, in_file, conflicts

    # Merge on the line item's key: equal rows are duplicates, changed ones replace.
    subs = schema.subscriptions
    stage = stage_table(conn, subs, "_kenko_stage_subscriptions")
    store.insert_arrow(conn, stage, rows)
    key = sa.and_(
        subs.c.account_id == stage.c.account_id,
        sa.func.coalesce(subs.c.subscription_id, subs.c.product)
        == sa.func.coalesce(stage.c.subscription_id, stage.c.product),
        subs.c.start_date == stage.c.start_date,
    )
    same = sa.and_(*[subs.c[c].is_not_distinct_from(stage.c[c]) for c in _CONTENT])
    duplicates = scalar(
        conn,
        sa.select(sa.func.count())
        .select_from(stage)
        .where(sa.exists().where(same).correlate(stage)),
    )
    replaced = scalar(
        conn,
        sa.select(sa.func.count())
        .select_from(stage)
        .where(sa.exists().where(key).correlate(stage))
        .where(~sa.exists().where(same).correlate(stage)),
    )
    conn.execute(
        subs.delete()
        .where(sa.exists().where(key).correlate(subs))
        .where(~sa.exists().where(same).correlate(subs))
    )
    conn.execute(
        subs.insert().from_select(
            [*_CONTENT, "load_id"],
            sa.select(*[stage.c[c] for c in (*_CONTENT, "load_id")]).where(
                ~sa.exists().where(same).correlate(stage)
            ),
        )
    )
    stage.drop(conn)
    if replaced:
        ctx.notes.append(f"{replaced} line item(s) changed and were replaced")
    return rows.num_rows - duplicates, in_file + duplicates, conflicts
