"""Rows straight into the store's tables, for measure and score tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from kenko.scorecard.model import Measure, Scorecard
from kenko.store import Store, schema

LOAD_ID = "test-load"

_TYPES: dict[str, dict[str, pa.DataType]] = {
    "accounts": {
        "account_id": pa.string(),
        "name": pa.string(),
        "owner": pa.string(),
        "seats": pa.float64(),
        "parent_id": pa.string(),
        "timezone": pa.string(),
        "known_on": pa.date32(),
        "load_id": pa.string(),
    },
    "account_attributes": {
        "account_id": pa.string(),
        "name": pa.string(),
        "value": pa.string(),
        "static": pa.bool_(),
    },
    "subscriptions": {
        "account_id": pa.string(),
        "subscription_id": pa.string(),
        "product": pa.string(),
        "start_date": pa.date32(),
        "end_date": pa.date32(),
        "mrr": pa.float64(),
        "quantity": pa.float64(),
        "units": pa.string(),
        "billing_months": pa.int32(),
        "end_reason": pa.string(),
        "canceled_at": pa.date32(),
        "load_id": pa.string(),
    },
    "events": {
        "account_id": pa.string(),
        "user_id": pa.string(),
        "event_type": pa.string(),
        "ts": pa.timestamp("us"),
        "value": pa.float64(),
        "load_id": pa.string(),
    },
}


def insert(store: Store, table: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert ``rows`` (missing columns are NULL) into one of the source tables."""
    types = _TYPES[table]
    rows = list(rows)
    columns = {name: [r.get(name) for r in rows] for name in types}
    if "load_id" in columns:
        columns["load_id"] = [v or LOAD_ID for v in columns["load_id"]]
    data = pa.table({n: pa.array(v, type=types[n]) for n, v in columns.items()})
    with store.begin() as conn:
        store.insert_arrow(conn, getattr(schema, table), data)


def account(
    store: Store,
    account_id: str,
    *,
    start: date = date(2023, 1, 1),
    end: date | None = None,
    mrr: float = 100.0,
    seats: float | None = None,
    timezone: str | None = None,
    known_on: date = date(2023, 1, 1),
    attributes: dict[str, str] | None = None,
    static: bool = True,
    product: str = "core",
    quantity: float | None = None,
    units: str | None = None,
) -> None:
    """One account with one line item from ``start`` (to ``end``) and its attributes."""
    insert(
        store,
        "accounts",
        [
            {
                "account_id": account_id,
                "name": account_id.upper(),
                "seats": seats,
                "timezone": timezone,
                "known_on": known_on,
            }
        ],
    )
    subscription(
        store,
        account_id,
        start=start,
        end=end,
        mrr=mrr,
        product=product,
        quantity=quantity,
        units=units,
    )
    if attributes:
        insert(
            store,
            "account_attributes",
            [
                {"account_id": account_id, "name": k, "value": v, "static": static}
                for k, v in attributes.items()
            ],
        )


def subscription(
    store: Store,
    account_id: str,
    *,
    start: date,
    end: date | None = None,
    mrr: float = 100.0,
    product: str = "core",
    quantity: float | None = None,
    units: str | None = None,
) -> None:
    """One line item; ``end`` is exclusive, None = open."""
    insert(
        store,
        "subscriptions",
        [
            {
                "account_id": account_id,
                "subscription_id": f"{account_id}-{product}-{start}",
                "product": product,
                "start_date": start,
                "end_date": end,
                "mrr": mrr,
                "quantity": quantity,
                "units": units,
                "billing_months": 1,
            }
        ],
    )


def events(
    store: Store,
    rows: Iterable[tuple[str, str | None, str, datetime] | tuple[Any, ...]],
) -> None:
    """Events as (account_id, user_id, event_type, ts naive UTC[, value])."""
    insert(
        store,
        "events",
        [
            {
                "account_id": r[0],
                "user_id": r[1],
                "event_type": r[2],
                "ts": r[3],
                "value": r[4] if len(r) > 4 else None,
            }
            for r in rows
        ],
    )


def measure(name: str, **fields: Any) -> Measure:
    """A measure with a neutral default scoring (linear 0..10)."""
    fields.setdefault("scoring", {"linear": {"zero_at": 0, "full_at": 10}})
    if not any(k in fields for k in ("events", "attribute", "subscription", "formula")):
        fields["events"] = ["login"]
    return Measure.model_validate({"name": name, **fields})


def scorecard(groups: list[dict[str, Any]], **fields: Any) -> Scorecard:
    """A scorecard from group dicts whose measures may be Measure objects."""
    out = []
    for g in groups:
        g = dict(g)
        g["measures"] = [
            m.model_dump(exclude_unset=True) if isinstance(m, Measure) else m
            for m in g["measures"]
        ]
        out.append(g)
    return Scorecard.model_validate({"groups": out, **fields})
