"""Reads the CLI and (later) the web need from the store, written once in Core."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from kenko.store import schema
from kenko.store.store import Store


def account_attributes(store: Store) -> dict[str, dict[str, str | None]]:
    """account_id -> {attribute: value}, with owner and name included."""
    out: dict[str, dict[str, str | None]] = defaultdict(dict)
    for row in store.fetch(
        sa.select(
            schema.accounts.c.account_id,
            schema.accounts.c.name,
            schema.accounts.c.owner,
        )
    ):
        out[row["account_id"]].update(name=row["name"], owner=row["owner"])
    for row in store.fetch(sa.select(schema.account_attributes)):
        out[row["account_id"]][row["name"]] = row["value"]
    return dict(out)


def account_exists(store: Store, account_id: str) -> bool:
    query = sa.select(sa.func.count()).where(schema.accounts.c.account_id == account_id)
    with store.engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def latest_as_of(store: Store) -> list[object]:
    """Distinct snapshot dates, newest first."""
    query = (
        sa.select(schema.snapshots.c.as_of)
        .distinct()
        .order_by(schema.snapshots.c.as_of.desc())
    )
    return [r["as_of"] for r in store.fetch(query)]
