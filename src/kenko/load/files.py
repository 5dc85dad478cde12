"""Reading a source file into the loader's private DuckDB connection.

CSV columns are all read as text so that a bad value is seen on its own row, not as a
failure of the whole column; Parquet keeps its native types. Either way the file
appears as the view ``src`` with a 1-based data row number ``_kenko_row``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from kenko.errors import DataError

log = logging.getLogger(__name__)

ROW = "_kenko_row"
# A CSV row with the wrong number of columns: why, and its raw text.
MALFORMED = "_kenko_malformed"
RAW = "_kenko_raw"
_FIX_FORMAT = "kenko reads .csv, .csv.gz and .parquet files; export the data as one"


def file_kind(path: Path) -> str:
    """'csv' or 'parquet', from the file name."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".gz", ".txt")):
        return "csv"
    raise DataError("not a CSV or Parquet file", where=str(path), fix=_FIX_FORMAT)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def open_source(
    con: duckdb.DuckDBPyConnection, path: Path, delimiter: str = ","
) -> dict[str, str]:
    """Expose ``path`` as view ``src`` in ``con``; return its columns and types."""
    if not path.is_file():
        raise DataError("file not found", where=str(path), fix="check the path")
    if path.stat().st_size == 0:
        raise DataError(
            "the file is empty", where=str(path), fix="export the data again"
        )
    if file_kind(path) == "parquet":
        _open_parquet(con, path)
    else:
        _open_csv(con, path, delimiter)
    described = con.sql("DESCRIBE src").fetchall()
    hidden = (ROW, MALFORMED, RAW)
    return {name: dtype for name, dtype, *_ in described if name not in hidden}


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    literal = str(path).replace("'", "''")
    try:
        names = [
            r[0]
            for r in con.sql(
                f"DESCRIBE SELECT * FROM read_parquet('{literal}')"
            ).fetchall()
        ]
        rest = ", ".join(f'"{_ident(n)}"' for n in names)
        con.sql(
            f"CREATE OR REPLACE TEMP VIEW src AS SELECT file_row_number + 1 AS {ROW}, "
            f"CAST(NULL AS VARCHAR) AS {MALFORMED}, CAST(NULL AS VARCHAR) AS {RAW}, "
            f"{rest} FROM read_parquet('{literal}', file_row_number = true)"
        )
    except duckdb.Error as exc:
        raise DataError(
            f"cannot read the file as Parquet: {_first_line(exc)}",
            where=str(path),
            fix=_FIX_FORMAT,
        ) from exc


def _check_text(path: Path) -> None:
    """Refuse a file whose first megabyte is not UTF-8 text (binary, Latin-1...)."""
    import codecs
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(1 << 20)
    except (OSError, EOFError) as exc:
        raise DataError(
            f"cannot read the file: {_first_line(exc)}",
            where=str(path),
            fix="the file is damaged or truncated; export or copy it again",
        ) from exc
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        line = head[: exc.start].count(b"\n") + 1
        raise DataError(
            f"not UTF-8 text: byte 0x{head[exc.start]:02x} on line {line}",
            where=str(path),
            fix="save the file as UTF-8 CSV (or as Parquet)",
        ) from exc


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path, delimiter: str) -> None:
    _check_text(path)
    try:
        skip = pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=lambda row: "skip"
        )
        with pacsv.open_csv(str(path), parse_options=skip) as reader:
            names = reader.schema.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DataError(
                f"the header repeats column(s) {', '.join(dupes)}",
                where=str(path),
                fix="give every column a distinct name",
            )
        table, bad = _read_csv_text(path, names, delimiter)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read the file as CSV: {_first_line(exc)}",
            where=str(path),
            fix="save it as UTF-8 CSV with a header row (or as Parquet)",
        ) from exc
    table = _with_row_numbers(table, bad, names)
    con.register("src_arrow", table)
    con.sql("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM src_arrow")


def _read_csv_text(
    path: Path, names: list[str], delimiter: str, threads: bool = True
) -> tuple[pa.Table, list[tuple[int, str, int, int]]]:
    """Every column as text, and the rows whose column count is wrong."""
    bad: list[tuple[int | None, str, int, int]] = []

    def keep_aside(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        str(path),
        read_options=pacsv.ReadOptions(use_threads=threads),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter, invalid_row_handler=keep_aside
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if any(number is None for number, *_ in bad):
        # Only a single-threaded read knows where the bad rows are; pay for it then.
        return _read_csv_text(path, names, delimiter, threads=False)
    return table, [(int(n or 0), t, e, a) for n, t, e, a in bad]


def _with_row_numbers(
    table: pa.Table, bad: list[tuple[int, str, int, int]], names: list[str]
) -> pa.Table:
    """Number the rows 1.. in file order, malformed ones included as empty rows."""
    total = table.num_rows + len(bad)
    # pyarrow numbers physical lines with the header as line 1.
    bad_rows = np.array([number - 1 for number, *_ in bad], dtype=np.int64)
    numbers = np.arange(1, total + 1, dtype=np.int64)
    good_rows = numbers[~np.isin(numbers, bad_rows)]
    table = table.append_column(ROW, pa.array(good_rows))
    table = table.append_column(MALFORMED, pa.nulls(table.num_rows, pa.string()))
    table = table.append_column(RAW, pa.nulls(table.num_rows, pa.string()))
    if not bad:
        return table
    columns = {n: pa.nulls(len(bad), pa.string()) for n in names}
    columns[ROW] = pa.array(bad_rows)
    columns[MALFORMED] = pa.array(
        [f"expected {e} columns, found {a}" for _, _, e, a in bad], pa.string()
    )
    columns[RAW] = pa.array([text for _, text, _, _ in bad], pa.string())
    extra = pa.table(columns).select(table.column_names)
    return pa.concat_tables([table, extra]).sort_by(ROW)


def _ident(name: str) -> str:
    return name.replace('"', '""')


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0]
    # Keep raw bytes of a broken file off the terminal.
    shown = "".join(c if c.isprintable() else "?" for c in first)
    return shown if len(shown) <= 200 else shown[:200] + "…"
