"""Accounts and their segment attributes (stored long, one row per attribute)."""

from __future__ import annotations

import logging

import pyarrow as pa
import sqlalchemy as sa

from kenko.load.fields import ident, lit
from kenko.load.stage import FileContext, Plan, arrow, conflict_rejections
from kenko.store import Store, schema

log = logging.getLogger(__name__)

_FIELDS = ("name", "owner", "seats", "parent_id", "timezone")
_CHUNK = 500


def attribute_columns(ctx: FileContext) -> list[str]:
    wanted = ctx.source.attributes
    if wanted == "auto":
        used = {s.label for s in ctx.mapped.values()}
        return [c for c in ctx.columns if c not in used]
    missing = [c for c in wanted if c not in ctx.columns]
    if missing:
        from kenko.errors import DataError

        raise DataError(
            f"attribute column(s) {', '.join(missing)} are not in the file; columns "
            f"found: {', '.join(ctx.columns)}",
            where=ctx.file,
            fix="correct `attributes:` under `accounts:` in kenko.yaml (or use 'auto')",
        )
    return list(wanted)


def plan(ctx: FileContext) -> Plan:
    extra = []
    for i, column in enumerate(attribute_columns(ctx)):
        text = f"CAST({ident(column)} AS VARCHAR)"
        extra.append((f"a_{i}", f"NULLIF(trim({text}), '')"))
    return Plan(extra=extra)


def write(
    ctx: FileContext, store: Store, conn: sa.Connection
) -> tuple[int, int, pa.Table]:
    """Add new accounts, replace changed ones; return (accepted, duplicates,
    conflicts)."""
    con = ctx.con
    names = attribute_columns(ctx)
    static = set(ctx.source.static_attributes)
    known_on = f"coalesce(v_known_on, DATE {lit(ctx.now.date().isoformat())})"
    attrs = [f"a_{i}" for i in range(len(names))]
    # A field or attribute the file does not carry keeps its stored value.
    _register_stored(con, conn)
    content = [f"v_{f} AS {f}" if f in ctx.mapped else f"o.{f} AS {f}" for f in _FIELDS]
    con.sql(
        "CREATE OR REPLACE TEMP TABLE accts AS SELECT _kenko_row, "
        f"v_account_id AS account_id, {', '.join(content)}, "
        f"{known_on} AS known_on{''.join(', ' + a for a in attrs)} "
        "FROM checked c LEFT JOIN old_accounts o ON o.account_id = c.v_account_id "
        "WHERE c._field IS NULL"
    )
    record = f"struct_pack({', '.join([*_FIELDS, *attrs])})"
    window = "OVER (PARTITION BY account_id ORDER BY _kenko_row)"
    con.sql(
        "CREATE OR REPLACE TEMP TABLE accts_marked AS SELECT *, "
        f"row_number() {window} AS _n, first_value(_kenko_row) {window} AS _first, "
        f"{record} IS DISTINCT FROM first_value({record}) {window} AS _conflict "
        "FROM accts"
    )
    conflicts = conflict_rejections(ctx, "accts_marked", "account_id", "account_id")
    row = con.sql(
        "SELECT count(*) FILTER (WHERE _n > 1 AND NOT _conflict) FROM accts_marked"
    ).fetchall()[0]
    in_file = int(row[0]) if row else 0
    long = [
        f"SELECT account_id, {lit(n)} AS name, a_{i} AS value, "
        f"{'true' if n in static else 'false'} AS static FROM accts_marked WHERE _n = 1"
        for i, n in enumerate(names)
    ] or [
        "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS name, "
        "NULL::VARCHAR AS value, false AS static WHERE false"
    ]
    kept = (
        "SELECT o.account_id, o.name, o.value, o.static FROM old_attrs o "
        "JOIN accts_marked m ON m.account_id = o.account_id AND m._n = 1"
        + (
            f" WHERE o.name NOT IN ({', '.join(lit(n) for n in names)})"
            if names
            else ""
        )
    )
    long.append(kept)
    con.sql(f"CREATE OR REPLACE TEMP TABLE new_attrs AS {' UNION ALL '.join(long)}")

    # Compare with what the store holds: equal accounts are duplicates.
    signature = (
        "string_agg(name || chr(31) || coalesce(value, chr(0)) || chr(31) || "
        "CAST(static AS VARCHAR), chr(30) ORDER BY name)"
    )
    same = " AND ".join(f"n.{f} IS NOT DISTINCT FROM o.{f}" for f in _FIELDS)
    con.sql(
        "CREATE OR REPLACE TEMP TABLE verdicts AS "
        f"WITH na AS (SELECT account_id, {signature} AS sig FROM new_attrs "
        "GROUP BY 1), "
        f"oa AS (SELECT account_id, {signature} AS sig FROM old_attrs GROUP BY 1) "
        "SELECT n.account_id, CASE WHEN o.account_id IS NULL THEN 'new' "
        f"WHEN {same} AND na.sig IS NOT DISTINCT FROM oa.sig THEN 'same' "
        "ELSE 'changed' END AS verdict "
        "FROM accts_marked n LEFT JOIN old_accounts o USING (account_id) "
        "LEFT JOIN na USING (account_id) LEFT JOIN oa USING (account_id) "
        "WHERE n._n = 1"
    )
    changed = [
        r[0]
        for r in con.sql(
            "SELECT account_id FROM verdicts WHERE verdict = 'changed' ORDER BY 1"
        ).fetchall()
    ]
    for i in range(0, len(changed), _CHUNK):
        ids = changed[i : i + _CHUNK]
        conn.execute(
            schema.account_attributes.delete().where(
                schema.account_attributes.c.account_id.in_(ids)
            )
        )
        conn.execute(
            schema.accounts.delete().where(schema.accounts.c.account_id.in_(ids))
        )
    columns = ", ".join(f"a.{c}" for c in ("account_id", *_FIELDS, "known_on"))
    accounts = arrow(
        con,
        f"SELECT {columns}, {lit(ctx.load_id)} AS load_id FROM accts_marked a "
        "JOIN verdicts v USING (account_id) WHERE a._n = 1 AND v.verdict <> 'same' "
        "ORDER BY a._kenko_row",
    )
    attributes = arrow(
        con,
        "SELECT t.* FROM new_attrs t JOIN verdicts v USING (account_id) "
        "WHERE v.verdict <> 'same' ORDER BY t.account_id, t.name",
    )
    store.insert_arrow(conn, schema.accounts, accounts)
    store.insert_arrow(conn, schema.account_attributes, attributes)
    if changed:
        ctx.notes.append(f"{len(changed)} account(s) changed and were replaced")
    duplicates = accounts_same(con)
    return accounts.num_rows, in_file + duplicates, conflicts


def accounts_same(con: object) -> int:
    row = con.sql(  # type: ignore[attr-defined]
        "SELECT count(*) FROM verdicts WHERE verdict = 'same'"
    ).fetchall()[0]
    return int(row[0]) if row else 0


def _register_stored(con: object, conn: sa.Connection) -> None:
    """Copy the store's accounts and attributes into the private connection."""
    a, t = schema.accounts, schema.account_attributes
    stored = conn.execute(sa.select(a.c.account_id, *[a.c[f] for f in _FIELDS]))
    old_accounts = pa.Table.from_pylist(
        [dict(r._mapping) for r in stored],
        schema=pa.schema(
            [
                ("account_id", pa.string()),
                ("name", pa.string()),
                ("owner", pa.string()),
                ("seats", pa.float64()),
                ("parent_id", pa.string()),
                ("timezone", pa.string()),
            ]
        ),
    )
    attrs = conn.execute(sa.select(t.c.account_id, t.c.name, t.c.value, t.c.static))
    old_attrs = pa.Table.from_pylist(
        [dict(r._mapping) for r in attrs],
        schema=pa.schema(
            [
                ("account_id", pa.string()),
                ("name", pa.string()),
                ("value", pa.string()),
                ("static", pa.bool_()),
            ]
        ),
    )
    con.register("old_accounts", old_accounts)  # type: ignore[attr-defined]
    con.register("old_attrs", old_attrs)  # type: ignore[attr-defined]
