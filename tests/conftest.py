"""Shared fixtures: real stores on DuckDB and PostgreSQL, and the cases folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kenko.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KENKO_SHARED", REPO.parent / "shared"))
CASES = SHARED / "cases"
CRM6 = SHARED / "data" / "crm6"
PG_ADMIN = os.environ.get(
    "KENKO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A scratch PostgreSQL database for this test run, dropped at the end."""
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"kenko_t_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - CI always has it
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable: {exc}")
    url = sa.engine.make_url(PG_ADMIN).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _empty(store: Store) -> None:
    from kenko.store import schema

    with store.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store, once on an embedded DuckDB file and once on PostgreSQL."""
    if request.param == "duckdb":
        s = open_store("kenko.duckdb", tmp_path)
    else:
        s = open_store(request.getfixturevalue("pg_server"), tmp_path)
        _empty(s)
    yield s
    s.close()


@pytest.fixture
def duck_store(tmp_path: Path) -> Iterator[Store]:
    """An empty store on an embedded DuckDB file only (for the heavier tests)."""
    s = open_store("kenko.duckdb", tmp_path)
    yield s
    s.close()
