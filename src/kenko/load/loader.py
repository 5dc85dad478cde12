"""Loading files: read, map, parse, check, then write one transaction per file."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from kenko.errors import DataError
from kenko.load import accounts, events, subscriptions
from kenko.load.fields import (
    FIELDS,
    generic_checks,
    lookup_for,
    parse_expr,
    refuse_ambiguous_dates,
    resolve,
)
from kenko.load.files import open_source, sha256_of
from kenko.load.stage import FileContext, Plan, build_checked, rejections
from kenko.settings import Entity, Settings
from kenko.store import Store, schema

log = logging.getLogger(__name__)

ORDER: tuple[Entity, ...] = ("accounts", "subscriptions", "events")
PROBLEMS_SHOWN = 20


@dataclass
class Rejection:
    """One row left out of the store, and why."""

    file: str
    row: int  # 1-based data row, header excluded
    field: str
    value: str | None
    reason: str


@dataclass
class FileReport:
    """What loading one file did: accepted + rejected + duplicates == rows_read."""

    file: str
    entity: str
    rows_read: int
    accepted: int
    rejected: int
    duplicates: int
    load_id: str
    problems: list[Rejection] = field(default_factory=list)  # the first few
    notes: list[str] = field(default_factory=list)


def load_files(
    store: Store,
    settings: Settings,
    paths: Sequence[Path],
    *,
    entity: Entity | None = None,
    now: datetime | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[FileReport]:
    """Load each file into the store: accounts first, then subscriptions, then events.

    Every row is accepted, rejected into the quarantine table, or counted as a
    duplicate of a row already in the file or the store. A file that cannot be read or
    mapped raises DataError before anything of it is written.
    """
    moment = _utc(now or datetime.now(UTC))
    planned = sorted(
        ((Path(p), entity or _entity_of(settings, Path(p))) for p in paths),
        key=lambda pe: ORDER.index(pe[1]),
    )
    reports = []
    for done, (path, kind) in enumerate(planned):
        reports.append(_load_file(store, settings, path, kind, moment))
        if on_progress:
            on_progress(str(path), done + 1, len(planned))
    return reports


def _entity_of(settings: Settings, path: Path) -> Entity:
    found = settings.entity_for(path)
    if found is None:
        raise DataError(
            "cannot tell whether the file holds accounts, subscriptions or events",
            where=str(path),
            fix="pass --entity, or add a `files:` pattern matching it under "
            "`accounts:`, `subscriptions:` or `events:` in kenko.yaml",
        )
    return found


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _load_file(
    store: Store, settings: Settings, path: Path, entity: Entity, now: datetime
) -> FileReport:
    con = duckdb.connect()
    try:
        return _load_with(con, store, settings, path, entity, now)
    finally:
        con.close()


def _load_with(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    settings: Settings,
    path: Path,
    entity: Entity,
    now: datetime,
) -> FileReport:
    try:
        ctx, rows_read, rejected = _read_and_check(
            con, store, settings, path, entity, now
        )
    except duckdb.Error as exc:
        raise DataError(
            f"cannot read the file: {str(exc).strip().splitlines()[0]}",
            where=str(path),
            fix="check that the file is a complete CSV or Parquet export",
        ) from exc
    module = {"accounts": accounts, "subscriptions": subscriptions, "events": events}

    # Write the file's load, quarantine and accepted rows in one transaction.
    with store.begin() as conn:
        if entity == "events":
            accepted, duplicates = events.write(ctx, store, conn)
        else:
            accepted, duplicates, conflicts = module[entity].write(ctx, store, conn)
            rejected = pa.concat_tables([rejected, conflicts.cast(rejected.schema)])
        store.insert_arrow(conn, schema.quarantine, rejected)
        report = FileReport(
            file=ctx.file,
            entity=entity,
            rows_read=rows_read,
            accepted=accepted,
            rejected=rejected.num_rows,
            duplicates=duplicates,
            load_id=ctx.load_id,
            problems=_problems(rejected),
            notes=ctx.notes,
        )
        assert accepted + report.rejected + duplicates == rows_read, report
        conn.execute(
            schema.loads.insert().values(
                load_id=ctx.load_id,
                file=ctx.file,
                entity=entity,
                sha256=sha256_of(path),
                rows_read=rows_read,
                accepted=accepted,
                rejected=report.rejected,
                duplicates=duplicates,
                loaded_at=now,
            )
        )
    log.info(
        "loaded %s as %s: %d rows read, %d accepted, %d rejected, %d duplicates%s",
        path,
        entity,
        rows_read,
        accepted,
        report.rejected,
        duplicates,
        "".join(f"; {n}" for n in ctx.notes),
    )
    return report


def _read_and_check(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    settings: Settings,
    path: Path,
    entity: Entity,
    now: datetime,
) -> tuple[FileContext, int, pa.Table]:
    """Read and map the file, then parse and check every row."""
    con.sql("SET TimeZone = 'UTC'")
    source = settings.source(entity)
    columns = open_source(con, path, source.delimiter)
    ctx = FileContext(
        path=path,
        entity=entity,
        settings=settings,
        source=source,
        load_id=str(uuid.uuid4()),
        now=now,
        con=con,
        columns=columns,
        mapped=resolve(entity, source, columns, path),
    )
    refuse_ambiguous_dates(con, entity, ctx.mapped, source.date_format, path)

    module = {"accounts": accounts, "subscriptions": subscriptions, "events": events}
    plan: Plan = module[entity].plan(ctx)
    if entity != "accounts":
        _register_known_accounts(con, store)
    rows_read = build_checked(ctx, _parsed(ctx), _checks(ctx, plan), plan)

    return ctx, rows_read, rejections(ctx)


def _parsed(ctx: FileContext) -> dict[str, str]:
    timezone = ctx.source.timezone or ctx.settings.timezone
    out = {}
    for f in FIELDS[ctx.entity]:
        src = ctx.mapped.get(f.name)
        if src is None:
            continue
        lookup = None
        if f.kind in ("timezone", "term"):
            distinct = ctx.con.sql(
                f"SELECT DISTINCT CAST({src.sql} AS VARCHAR) AS v FROM src "
                "WHERE v IS NOT NULL"
            ).fetchall()
            lookup = lookup_for(f, [str(r[0]).strip() for r in distinct])
        out[f.name] = parse_expr(
            f,
            src,
            date_format=ctx.source.date_format,
            timezone=timezone,
            lookup=lookup,
        )
    return out


def _checks(ctx: FileContext, plan: Plan) -> list:
    return [
        *generic_checks(FIELDS[ctx.entity], ctx.mapped, ctx.source.date_format),
        *plan.checks,
    ]


def _register_known_accounts(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    ids = [
        r["account_id"] for r in store.fetch(sa.select(schema.accounts.c.account_id))
    ]
    con.register("known_accounts", pa.table({"account_id": pa.array(ids, pa.string())}))


def _problems(rejected: pa.Table) -> list[Rejection]:
    head = rejected.slice(0, PROBLEMS_SHOWN).to_pylist()
    return [
        Rejection(
            file=r["file"],
            row=r["row"],
            field=r["field"],
            value=r["value"],
            reason=r["reason"],
        )
        for r in head
    ]
