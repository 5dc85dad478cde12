"""kenko's fields per entity, how they map onto a file's columns, and how each is
parsed and checked in SQL on the loader's private DuckDB connection.

Every field ``f`` becomes two columns of the staged table: ``s_f``, the source value
(text trimmed, empty as NULL; native Parquet types kept) and ``v_f``, the parsed value
(NULL when absent or unreadable). A row's first failed check names its field and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kenko.errors import DataError, SettingsError
from kenko.load.billing import parse_billing_term
from kenko.load.files import ROW
from kenko.settings import Entity, EntitySource, check_timezone

SQL_TYPES = {
    "text": "VARCHAR",
    "number": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timezone": "VARCHAR",
    "term": "INTEGER",
}
_NUMERIC = (
    *("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE"),
    *("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DECIMAL"),
)
# A time of day followed by Z or a UTC offset: the text carries its own zone.
_OFFSET_RE = r"[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$"
# 03/04/2024, 3.4.24, 03-04-2024: day and month in an order the text does not tell.
_AMBIGUOUS_RE = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}"


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # a key of SQL_TYPES
    column_required: bool = False
    value_required: bool = False
    nonnegative: bool = False


FIELDS: dict[str, tuple[Field, ...]] = {
    "accounts": (
        Field("account_id", "text", column_required=True, value_required=True),
        Field("name", "text"),
        Field("owner", "text"),
        Field("seats", "number", nonnegative=True),
        Field("parent_id", "text"),
        Field("timezone", "timezone"),
        Field("known_on", "date"),
    ),
    "subscriptions": (
        Field("account_id", "text", column_required=True, value_required=True),
        Field("subscription_id", "text"),
        Field("product", "text", column_required=True, value_required=True),
        Field("start_date", "date", column_required=True, value_required=True),
        Field("end_date", "date"),
        Field("mrr", "number", nonnegative=True),
        Field("price", "number", nonnegative=True),
        Field("quantity", "number", nonnegative=True),
        Field("discount", "number", nonnegative=True),
        Field("billing_term", "term"),
        Field("units", "text"),
        Field("end_reason", "text"),
        Field("canceled_at", "date"),
    ),
    "events": (
        Field("account_id", "text", column_required=True, value_required=True),
        Field("user_id", "text"),
        Field("type", "text", column_required=True, value_required=True),
        Field("timestamp", "timestamp", column_required=True, value_required=True),
        Field("value", "number"),
    ),
}


@dataclass(frozen=True)
class Source:
    """Where one field's values come from: a column of the file or a constant."""

    sql: str  # expression over view ``src``
    dtype: str  # DuckDB type of that expression
    label: str  # the column name, or "constant"


@dataclass(frozen=True)
class Check:
    """A row fails when ``condition`` holds; ``reason`` is a SQL text expression."""

    field: str
    condition: str
    reason: str


def lit(value: object) -> str:
    """A SQL literal for a text value."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def field_names(entity: str) -> list[str]:
    return [f.name for f in FIELDS[entity]]


def resolve(
    entity: Entity, source: EntitySource, columns: dict[str, str], path: Path
) -> dict[str, Source]:
    """Map each field onto a column or constant; raise for a missing required one."""
    known = field_names(entity)
    for key, kind in ((source.columns, "columns"), (source.constants, "constants")):
        unknown = sorted(set(key) - set(known))
        if unknown:
            raise SettingsError(
                f"{entity}.{kind} names unknown field(s) {', '.join(unknown)}",
                fix=f"{entity} fields are: {', '.join(known)}",
            )
    both = sorted(set(source.columns) & set(source.constants))
    if both:
        raise SettingsError(
            f"{entity}: field(s) {', '.join(both)} are given both a column and a "
            "constant",
            fix=f"keep one of columns / constants for each field under {entity}:",
        )
    lower = {c.lower(): c for c in columns}
    mapped: dict[str, Source] = {}
    for field in FIELDS[entity]:
        name = field.name
        if name in source.constants:
            mapped[name] = Source(lit(source.constants[name]), "VARCHAR", "constant")
            continue
        column = source.columns.get(name)
        if column is not None and column not in columns:
            raise DataError(
                f"column {column!r} (mapped to field {name!r}) is not in the file; "
                f"columns found: {', '.join(columns)}",
                where=str(path),
                fix=f"correct `columns: {{{name}: ...}}` under `{entity}:` in "
                "kenko.yaml",
            )
        if column is None:
            column = name if name in columns else lower.get(name)
        if column is not None:
            mapped[name] = Source(ident(column), columns[column], column)
        elif field.column_required:
            raise DataError(
                f"no column for required field {name!r}; columns found: "
                f"{', '.join(columns)}",
                where=str(path),
                fix=_delimiter_hint(columns, entity)
                or f"add `columns: {{{name}: your_column}}` under `{entity}:` in "
                "kenko.yaml",
            )
    return mapped


def _delimiter_hint(columns: dict[str, str], entity: str) -> str | None:
    """A fix for a header read as one column because the file uses another separator."""
    if len(columns) != 1:
        return None
    header = next(iter(columns))
    for sep, shown in ((";", ";"), ("\t", "\\t"), ("|", "|")):
        if sep in header:
            return (
                f"the header looks separated by '{shown}': set "
                f'`delimiter: "{shown}"` under `{entity}:` in kenko.yaml'
            )
    return None


def parse_expr(
    field: Field,
    src: Source,
    *,
    date_format: str | None,
    timezone: str,
    lookup: dict[str, object] | None = None,
) -> str:
    """SQL turning ``s_<field>`` into its parsed value, NULL when it cannot be read."""
    s = f"s_{field.name}"
    text = s if src.dtype == "VARCHAR" else f"CAST({s} AS VARCHAR)"
    if field.kind == "text":
        return text
    if field.kind == "number":
        if src.dtype.startswith(_NUMERIC):
            value = f"CAST({s} AS DOUBLE)"
        else:
            value = f"TRY_CAST({text} AS DOUBLE)"
        return f"CASE WHEN isfinite({value}) THEN {value} END"
    if field.kind == "date":
        if src.dtype == "DATE":
            return s
        if src.dtype.startswith("TIMESTAMP"):
            return f"CAST({s} AS DATE)"
        if date_format:
            return f"CAST(try_strptime({text}, {lit(date_format)}) AS DATE)"
        return f"TRY_CAST({text} AS DATE)"
    if field.kind == "timestamp":
        return _timestamp_expr(s, text, src.dtype, date_format, timezone)
    if field.kind in ("timezone", "term"):
        assert lookup is not None
        cases = " ".join(
            f"WHEN {lit(k)} THEN {lit(v) if field.kind == 'timezone' else v}"
            for k, v in lookup.items()
        )
        sql_type = SQL_TYPES[field.kind]
        return (
            f"CAST(CASE {text} {cases} END AS {sql_type})"
            if cases
            else (f"CAST(NULL AS {sql_type})")
        )
    raise AssertionError(field.kind)


def _timestamp_expr(
    s: str, text: str, dtype: str, date_format: str | None, timezone: str
) -> str:
    def local(naive: str) -> str:
        if timezone == "UTC":
            return naive
        return f"timezone('UTC', timezone({lit(timezone)}, {naive}))"

    if dtype in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return f"timezone('UTC', {s})"
    if dtype.startswith("TIMESTAMP") or dtype == "DATE":
        return local(f"CAST({s} AS TIMESTAMP)")
    if date_format:
        parsed = f"try_strptime({text}, {lit(date_format)})"
        if "%z" in date_format or "%Z" in date_format:
            return f"timezone('UTC', {parsed})"
        return local(parsed)
    return (
        f"CASE WHEN regexp_matches({text}, {lit(_OFFSET_RE)}) "
        f"THEN timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) "
        f"ELSE {local(f'TRY_CAST({text} AS TIMESTAMP)')} END"
    )


def lookup_for(field: Field, values: list[str]) -> dict[str, object]:
    """The readable distinct values of a time zone or billing term column."""
    parse: Callable[[str], object]
    if field.kind == "timezone":

        def parse(v: str) -> object:
            check_timezone(v)
            return v
    else:
        parse = parse_billing_term
    out: dict[str, object] = {}
    for value in values:
        try:
            out[value] = parse(value)
        except ValueError:
            continue
    return out


def generic_checks(
    fields: tuple[Field, ...], mapped: dict[str, Source], date_format: str | None
) -> list[Check]:
    """Missing required values, unreadable values and negative numbers."""
    checks: list[Check] = []
    for field in fields:
        name = field.name
        if name not in mapped:
            continue
        s, v = f"s_{name}", f"v_{name}"
        if field.value_required:
            checks.append(Check(name, f"{s} IS NULL", lit(f"missing {name}")))
        if field.kind == "timezone":
            reason = f"format('unknown time zone ''{{}}''', CAST({s} AS VARCHAR))"
        elif field.kind == "term":
            reason = (
                f"format('unknown billing term ''{{}}'' (write monthly, quarterly, "
                "semiannual, annual, 2-year, 18-months, a number of months or "
                f"one-time)', CAST({s} AS VARCHAR))"
            )
        elif field.kind in ("date", "timestamp") and date_format:
            reason = lit(f"not a {field.kind} in the format {date_format}")
        else:
            reason = lit(
                "not a number" if field.kind == "number" else f"not a {field.kind}"
            )
        checks.append(Check(name, f"{s} IS NOT NULL AND {v} IS NULL", reason))
        if field.nonnegative:
            checks.append(Check(name, f"{v} < 0", lit("must not be negative")))
    return checks


def refuse_ambiguous_dates(
    con: object,
    entity: str,
    mapped: dict[str, Source],
    date_format: str | None,
    path: Path,
) -> None:
    """Refuse day/month-or-month/day dates unless a ``date_format`` says which."""
    if date_format:
        return
    for field in FIELDS[entity]:
        src = mapped.get(field.name)
        if field.kind not in ("date", "timestamp") or src is None:
            continue
        if src.dtype != "VARCHAR":
            continue
        found = con.sql(  # type: ignore[attr-defined]
            f"SELECT trim({src.sql}) FROM src WHERE regexp_matches(trim({src.sql}), "
            f"{lit(_AMBIGUOUS_RE)}) ORDER BY {ROW} LIMIT 1"
        ).fetchall()
        if found:
            raise DataError(
                f"field {field.name!r} (column {src.label!r}) has dates like "
                f"{found[0][0]!r} that may be day/month or month/day",
                where=str(path),
                fix=f'set `date_format: "%d/%m/%Y"` or `"%m/%d/%Y"` under `{entity}:` '
                "in kenko.yaml",
            )
