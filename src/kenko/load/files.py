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


def open_source(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
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
        _open_csv(con, path)
    described = con.sql("DESCRIBE src").fetchall()
    return {name: dtype for name, dtype, *_ in described if name != ROW}


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
            f"{rest} FROM read_parquet('{literal}', file_row_number = true)"
        )
    except duckdb.Error as exc:
        raise DataError(
            f"cannot read the file as Parquet: {_first_line(exc)}",
            where=str(path),
            fix=_FIX_FORMAT,
        ) from exc


def _open_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        with pacsv.open_csv(str(path)) as reader:
            names = reader.schema.names
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise DataError(
                f"the header repeats column(s) {', '.join(dupes)}",
                where=str(path),
                fix="give every column a distinct name",
            )
        table = pacsv.read_csv(
            str(path),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"cannot read the file as CSV: {_first_line(exc)}",
            where=str(path),
            fix="save it as UTF-8 CSV with a header row (or as Parquet)",
        ) from exc
    rows = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
    table = table.append_column(ROW, rows)
    con.register("src_arrow", table)
    con.sql("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM src_arrow")


def _ident(name: str) -> str:
    return name.replace('"', '""')


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
