"""The per-file context and the staged table of parsed, checked rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from kenko.load.fields import FIELDS, SQL_TYPES, Check, Source, lit
from kenko.load.files import MALFORMED, RAW, ROW
from kenko.settings import Entity, EntitySource, Settings


@dataclass
class FileContext:
    """What every step of loading one file needs to know."""

    path: Path
    entity: Entity
    settings: Settings
    source: EntitySource
    load_id: str
    now: datetime  # naive UTC
    con: duckdb.DuckDBPyConnection
    columns: dict[str, str]
    mapped: dict[str, Source]
    notes: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return str(self.path)


@dataclass
class Plan:
    """An entity's additions to the staged table: extra source columns, values
    derived from the parsed fields, and its own checks (after the generic ones)."""

    extra: list[tuple[str, str]] = field(default_factory=list)
    derived: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    return con.sql(sql).to_arrow_table()


def build_checked(
    ctx: FileContext, parsed: dict[str, str], checks: list[Check], plan: Plan
) -> int:
    """Create table ``checked`` (one row per data row) and return the rows read."""
    sources = [ROW, MALFORMED, RAW]
    checks = [Check("(row)", f"{MALFORMED} IS NOT NULL", MALFORMED), *checks]
    values = []
    for f in FIELDS[ctx.entity]:
        src = ctx.mapped.get(f.name)
        if src is None:
            sources.append(f"CAST(NULL AS VARCHAR) AS s_{f.name}")
            values.append(f"CAST(NULL AS {SQL_TYPES[f.kind]}) AS v_{f.name}")
        else:
            expr = f"NULLIF(trim({src.sql}), '')" if src.dtype == "VARCHAR" else src.sql
            sources.append(f"{expr} AS s_{f.name}")
            values.append(f"{parsed[f.name]} AS v_{f.name}")
    sources += [f"{sql} AS {alias}" for alias, sql in plan.extra]
    derived = [f"{sql} AS {name}" for name, sql in plan.derived] or ["NULL AS _none"]
    field_case = " ".join(f"WHEN {c.condition} THEN {lit(c.field)}" for c in checks)
    reason_case = " ".join(f"WHEN {c.condition} THEN {c.reason}" for c in checks)
    verdict = (
        f"CASE {field_case} END AS _field, CASE {reason_case} END AS _reason"
        if checks
        else "CAST(NULL AS VARCHAR) AS _field, CAST(NULL AS VARCHAR) AS _reason"
    )
    ctx.con.sql(
        "CREATE OR REPLACE TEMP TABLE checked AS "
        f"SELECT *, {verdict} FROM ("
        f"SELECT *, {', '.join(derived)} FROM ("
        f"SELECT *, {', '.join(values)} FROM ("
        f"SELECT {', '.join(sources)} FROM src)))"
    )
    row = ctx.con.sql("SELECT count(*) FROM checked").fetchall()[0]
    return int(row[0]) if row else 0


def rejections(ctx: FileContext) -> pa.Table:
    """The rows of ``checked`` that failed a check, as quarantine rows."""
    names = [f.name for f in FIELDS[ctx.entity]]
    value = " ".join(f"WHEN {lit(n)} THEN CAST(s_{n} AS VARCHAR)" for n in names)
    value += f" WHEN '(row)' THEN {RAW}"
    return arrow(
        ctx.con,
        f"SELECT {lit(ctx.load_id)} AS load_id, {lit(ctx.file)} AS file, "
        f"CAST({ROW} AS BIGINT) AS row, _field AS field, CASE _field {value} END "
        "AS value, _reason AS reason FROM checked WHERE _field IS NOT NULL "
        f"ORDER BY {ROW}",
    )


def conflict_rejections(
    ctx: FileContext, table: str, field_name: str, value_sql: str
) -> pa.Table:
    """Quarantine rows for ``table``'s rows marked ``_conflict`` (same key, other
    values than an earlier row of the file)."""
    return arrow(
        ctx.con,
        f"SELECT {lit(ctx.load_id)} AS load_id, {lit(ctx.file)} AS file, "
        f"CAST({ROW} AS BIGINT) AS row, {lit(field_name)} AS field, "
        f"CAST({value_sql} AS VARCHAR) AS value, format('the same key is on row {{}} "
        f"with other values', _first) AS reason FROM {table} WHERE _conflict "
        f"ORDER BY {ROW}",
    )


def stage_table(conn: sa.Connection, base: sa.Table, name: str) -> sa.Table:
    """A temporary copy of ``base``'s columns in the store, for set-based merging."""
    table = sa.Table(
        name,
        sa.MetaData(),
        *[sa.Column(c.name, c.type) for c in base.columns],
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    return table


def scalar(conn: sa.Connection, query: sa.Executable) -> int:
    return int(conn.execute(query).scalar_one())
