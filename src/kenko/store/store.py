"""Opening the store and the few operations whose SQL differs between databases.

Everything else is written once in SQLAlchemy Core. The differences live here: how a
large Arrow table is written inside a transaction (DuckDB scans it in place,
PostgreSQL takes it through COPY) and how an Ibis backend reaches the same database.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from kenko.errors import StoreError
from kenko.store import schema

log = logging.getLogger(__name__)

_LOCKS: dict[tuple[str, str], threading.Lock] = {}


class Store:
    """A kenko store on DuckDB or PostgreSQL."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
            raise StoreError(
                f"cannot open store {url!r}: {exc}",
                fix="set `store` in kenko.yaml to a DuckDB file name or a URL "
                "like postgresql+psycopg://user@host:5432/db",
            ) from exc
        self.dialect = self.engine.dialect.name  # "duckdb" or "postgresql"
        self._ibis: Any = None
        self._ibis_raw: Any = None

    # -- lifecycle -------------------------------------------------------------------

    def create(self) -> None:
        """Create any missing table (existing tables and data are kept)."""
        try:
            schema.metadata.create_all(self.engine)
            if self.dialect == "postgresql":
                with self.engine.begin() as conn:
                    conn.execute(
                        sa.text(
                            "CREATE INDEX IF NOT EXISTS ix_events_account_ts "
                            "ON events (account_id, ts)"
                        )
                    )
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot reach the store at {self.safe_url}: {exc.orig}",
                fix="check `store` in kenko.yaml and that the database server runs",
            ) from exc

    def close(self) -> None:
        if self._ibis_raw is not None:
            self._ibis_raw.close()
            self._ibis_raw = None
        if self._ibis is not None and self.dialect == "postgresql":
            self._ibis.disconnect()
        self._ibis = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    # -- transactions and bulk writes ------------------------------------------------

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection inside one transaction: all of it lands, or none of it."""
        with self.engine.begin() as conn:
            yield conn

    def insert_arrow(self, conn: sa.Connection, table: sa.Table, data: pa.Table) -> int:
        """Append ``data`` (columns named as in ``table``) inside conn's transaction."""
        if data.num_rows == 0:
            return 0
        columns = [c for c in data.column_names if c in table.c]
        data = data.select(columns)
        driver: Any = conn.connection.driver_connection
        if self.dialect == "duckdb":
            import duckdb

            view = f"_kenko_insert_{id(data)}"
            driver.register(view, data)
            cols = ", ".join(f'"{c}"' for c in columns)
            try:
                driver.execute(
                    f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM {view}'
                )
            except duckdb.Error as exc:
                raise _write_error(table, data, exc) from exc
            finally:
                # In an aborted transaction DuckDB refuses even this; the view is
                # private to the connection and goes with it.
                with contextlib.suppress(duckdb.Error):
                    driver.unregister(view)
        elif self.dialect == "postgresql":
            buffer = io.BytesIO()
            pacsv.write_csv(
                data,
                buffer,
                pacsv.WriteOptions(include_header=False, quoting_style="needed"),
            )
            cols = ", ".join(f'"{c}"' for c in columns)
            copy_sql = f'COPY "{table.name}" ({cols}) FROM STDIN WITH (FORMAT csv)'
            try:
                with driver.cursor() as cur, cur.copy(copy_sql) as copy:
                    copy.write(buffer.getvalue())
            except psycopg.Error as exc:
                raise _write_error(table, data, exc) from exc
        else:
            conn.execute(table.insert(), data.to_pylist())
        return data.num_rows

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """Try to hold the lock ``name`` on this store for the block; yields whether
        it was got. PostgreSQL: a session advisory lock (a killed holder releases it);
        DuckDB: one writing process per file already, so a lock per process."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
            key -= 2**63  # bigint range
            with self.engine.connect() as conn:
                got = bool(
                    conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                    ).scalar()
                )
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(
                            sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key}
                        )
                        conn.commit()
            return
        lock = _LOCKS.setdefault((self.url, name), threading.Lock())
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()

    # -- reads -------------------------------------------------------------------------

    def ibis(self) -> Any:
        """An Ibis backend over this store's own database (opened once, then reused)."""
        if self._ibis is not None:
            return self._ibis
        import ibis

        if self.dialect == "duckdb":
            self._ibis_raw = self.engine.raw_connection()
            self._ibis = ibis.duckdb.from_connection(
                self._ibis_raw.driver_connection.cursor()
            )
        elif self.dialect == "postgresql":
            u = sa.engine.make_url(self.url)
            self._ibis = ibis.postgres.connect(
                host=u.host or "localhost",
                port=u.port or 5432,
                user=u.username,
                password=u.password,
                database=u.database,
            )
        else:
            raise StoreError(f"Ibis has no backend for store dialect {self.dialect!r}")
        return self._ibis

    def fetch(self, query: sa.Executable) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _write_error(table: sa.Table, data: pa.Table, exc: Exception) -> StoreError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(
        f"cannot write {data.num_rows} rows to table {table.name}: {first}",
        fix="nothing was written; this is a bug in kenko if the input was validated",
    )


def resolve_url(store: str, root: Path) -> str:
    """A store setting as a SQLAlchemy URL; a bare file name lives in the workspace."""
    if "://" in store:
        return store
    path = Path(store)
    if not path.is_absolute():
        path = root / path
    return f"duckdb:///{path}"


def open_store(store: str, root: Path) -> Store:
    """Open (and create if needed) the store named by a ``store`` setting."""
    s = Store(resolve_url(store, root))
    s.create()
    log.info("store open at %s", s.safe_url)
    return s
