"""Snapshots: scoring runs written to and read back from the store."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from kenko.errors import UnknownAccountError
from kenko.scores.results import (
    AccountScore,
    MeasureResult,
    Reason,
    ScoreBlock,
    ScoreRun,
)
from kenko.store import Store, schema

log = logging.getLogger(__name__)

S, SM = schema.snapshots, schema.snapshot_measures


def save_snapshots(store: Store, run: ScoreRun) -> None:
    """Store a run in one transaction, replacing the same as-of date and version."""
    now = datetime.now(UTC).replace(tzinfo=None)
    snapshots, measures = _arrow(run, now)
    with store.begin() as conn:
        versions = schema.scorecard_versions
        known = conn.execute(
            sa.select(versions.c.version).where(versions.c.version == run.version)
        ).first()
        if known is None:
            conn.execute(
                versions.insert().values(
                    version=run.version,
                    name=run.scorecard_name,
                    text=run.scorecard_text,
                    first_used=now,
                )
            )
        for table in (SM, S):
            conn.execute(
                table.delete().where(
                    table.c.as_of == run.as_of, table.c.version == run.version
                )
            )
        store.insert_arrow(conn, S, snapshots)
        store.insert_arrow(conn, SM, measures)
        _relink_next(conn, run)
    log.info("saved %d snapshots as of %s", len(run), run.as_of)


def _relink_next(conn: sa.Connection, run: ScoreRun) -> None:
    """Point each account's next later snapshot at this one (a backfilled date)."""
    later, here = S.alias("later"), S.alias("here")
    next_as_of = (
        sa.select(sa.func.min(later.c.as_of))
        .where(
            later.c.account_id == S.c.account_id,
            later.c.version == S.c.version,
            later.c.as_of > run.as_of,
        )
        .scalar_subquery()
    )
    score_here = (
        sa.select(here.c.score)
        .where(
            here.c.account_id == S.c.account_id,
            here.c.version == S.c.version,
            here.c.as_of == run.as_of,
        )
        .scalar_subquery()
    )
    scored_here = sa.select(here.c.account_id).where(
        here.c.version == run.version, here.c.as_of == run.as_of
    )
    change = sa.cast(
        sa.func.round(sa.cast(S.c.score - score_here, sa.Numeric), 1), sa.Double
    )
    conn.execute(
        S.update()
        .where(
            S.c.version == run.version,
            S.c.as_of > run.as_of,
            S.c.as_of == next_as_of,
            S.c.account_id.in_(scored_here),
        )
        .values(previous_score=score_here, change=change)
    )


def _arrow(run: ScoreRun, now: datetime) -> tuple[pa.Table, pa.Table]:
    """The run's blocks as the rows of snapshots and snapshot_measures."""
    snaps, measures = [], []
    for b in run.blocks:
        n, k = len(b), len(b.measure_names)
        groups = _json_objects(b.group_names, b.group_scores)
        reasons = _json_reasons(b)
        snaps.append(
            pa.table(
                {
                    "account_id": pa.array(b.account_ids, pa.string()),
                    "as_of": pa.array([b.as_of] * n, pa.date32()),
                    "version": pa.array([b.version] * n, pa.string()),
                    "segment": pa.array([b.segment] * n, pa.string()),
                    "score": _floats(b.score),
                    "band": pa.array(b.band, pa.string()),
                    "status": pa.array(b.status, pa.string()),
                    "coverage": _floats(b.coverage),
                    "previous_score": _floats(b.previous),
                    "change": _floats(b.change),
                    "groups": pa.array(groups, pa.string()),
                    "reasons": pa.array(reasons, pa.string()),
                    "computed_at": pa.array([now] * n, pa.timestamp("us")),
                }
            )
        )
        measures.append(
            pa.table(
                {
                    "account_id": pa.array(np.repeat(b.account_ids, k), pa.string()),
                    "as_of": pa.array([b.as_of] * (n * k), pa.date32()),
                    "version": pa.array([b.version] * (n * k), pa.string()),
                    "measure": pa.array(np.tile(b.measure_names, n), pa.string()),
                    "group_name": pa.array(np.tile(b.measure_groups, n), pa.string()),
                    "value": _floats(b.values.reshape(-1)),
                    "points": _floats(b.points.reshape(-1)),
                    "weight": _floats(b.weights.reshape(-1)),
                    "note": pa.array(
                        np.array(b.notes, dtype=object).T.reshape(-1), pa.string()
                    ),
                }
            )
        )
    return (
        _concat(snaps, _schema(S)),
        _concat(measures, _schema(SM)),
    )


def _json_number(x: float) -> str:
    return "null" if x != x else repr(x)


def _json_objects(keys: list[str], rows: np.ndarray) -> list[str]:
    """Each row as a JSON object {key: number or null}, keys in order."""
    quoted = [json.dumps(k) + ": " for k in keys]
    return [
        "{"
        + ", ".join(q + _json_number(x) for q, x in zip(quoted, row, strict=True))
        + "}"
        for row in rows.tolist()
    ]


def _json_reasons(b: ScoreBlock) -> list[str]:
    """Each account's reasons as the JSON list that AccountScore.to_dict gives."""
    heads = [
        f'{{"measure": {json.dumps(m)}, "group": {json.dumps(g)}, "value": '
        for m, g in zip(b.measure_names, b.measure_groups, strict=True)
    ]
    values, points, lost = b.values.tolist(), b.points.tolist(), b.lost.tolist()

    def one(i: int, j: int) -> str:
        return (
            f"{heads[j]}{_json_number(values[i][j])}, "
            f'"points": {_json_number(points[i][j])}, '
            f'"lost": {_json_number(lost[i][j])}}}'
        )

    return [
        "[" + ", ".join(one(i, j) for j in js) + "]" for i, js in enumerate(b.reasons)
    ]


def _floats(a: np.ndarray) -> pa.Array:
    a = np.asarray(a, dtype=float)
    return pa.array(a, pa.float64(), mask=np.isnan(a))


def _nullable(a: np.ndarray) -> list[list[float | None]]:
    return [[None if x != x else x for x in row] for row in a.tolist()]


def _or_none(x: float) -> float | None:
    return None if x != x else float(x)


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    if not tables:
        return schema.empty_table()
    return pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])


def _schema(table: sa.Table) -> pa.Schema:
    kinds = {
        sa.Text: pa.string(),
        sa.String: pa.string(),
        sa.Float: pa.float64(),
        sa.Date: pa.date32(),
        sa.DateTime: pa.timestamp("us"),
    }
    fields = []
    for c in table.columns:
        kind = next(v for k, v in kinds.items() if isinstance(c.type, k))
        fields.append(pa.field(c.name, kind))
    return pa.schema(fields)


# -- reads used while scoring --


def previous_scores(store: Store, version: str, as_of: date) -> pd.DataFrame:
    """The latest snapshot before ``as_of`` of each account, for this version."""
    latest = (
        sa.select(S.c.account_id, sa.func.max(S.c.as_of).label("as_of"))
        .where(S.c.version == version, S.c.as_of < as_of)
        .group_by(S.c.account_id)
        .subquery()
    )
    query = (
        sa.select(S.c.account_id, S.c.score, S.c.as_of)
        .join(
            latest,
            sa.and_(S.c.account_id == latest.c.account_id, S.c.as_of == latest.c.as_of),
        )
        .where(S.c.version == version)
    )
    rows = store.fetch(query)
    return pd.DataFrame(rows, columns=["account_id", "score", "as_of"]).set_index(
        "account_id"
    )


def last_values(
    store: Store, version: str, as_of: date, measures: list[str]
) -> pd.DataFrame:
    """The last stored non-null value before ``as_of`` per account and measure."""
    columns = ["account_id", "measure", "value", "as_of"]
    if not measures:
        return pd.DataFrame(columns=columns)
    where = (
        SM.c.version == version,
        SM.c.as_of < as_of,
        SM.c.measure.in_(measures),
        SM.c.value.is_not(None),
    )
    latest = (
        sa.select(SM.c.account_id, SM.c.measure, sa.func.max(SM.c.as_of).label("as_of"))
        .where(*where)
        .group_by(SM.c.account_id, SM.c.measure)
        .subquery()
    )
    query = (
        sa.select(SM.c.account_id, SM.c.measure, SM.c.value, SM.c.as_of)
        .join(
            latest,
            sa.and_(
                SM.c.account_id == latest.c.account_id,
                SM.c.measure == latest.c.measure,
                SM.c.as_of == latest.c.as_of,
            ),
        )
        .where(*where)
    )
    return pd.DataFrame(store.fetch(query), columns=columns)


# -- reading snapshots back --


def read_snapshots(
    store: Store, *, as_of: date | None = None, version: str | None = None
) -> list[AccountScore]:
    """Stored scores; ``as_of`` None gives each account's latest snapshot."""
    query = sa.select(S)
    if version is not None:
        query = query.where(S.c.version == version)
    if as_of is not None:
        query = query.where(S.c.as_of == as_of)
    rows = store.fetch(query.order_by(S.c.account_id, S.c.as_of, S.c.computed_at))
    if as_of is None:
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            latest[row["account_id"]] = row  # ordered: the last one is the newest
        rows = list(latest.values())
    return _rebuild(store, rows)


def read_history(store: Store, account_id: str) -> list[AccountScore]:
    """Every stored score of one account, oldest first."""
    rows = store.fetch(
        sa.select(S)
        .where(S.c.account_id == account_id)
        .order_by(S.c.as_of, S.c.computed_at)
    )
    if not rows:
        known = store.fetch(
            sa.select(schema.accounts.c.account_id).where(
                schema.accounts.c.account_id == account_id
            )
        )
        if not known:
            raise UnknownAccountError(
                f"no account {account_id!r} in the store",
                fix="check the id with `kenko accounts`",
            )
    return _rebuild(store, rows)


def _rebuild(store: Store, rows: list[dict[str, Any]]) -> list[AccountScore]:
    if not rows:
        return []
    dates = sorted({r["as_of"] for r in rows})
    versions = sorted({r["version"] for r in rows})
    ids = sorted({r["account_id"] for r in rows})
    query = sa.select(SM).where(SM.c.as_of.in_(dates), SM.c.version.in_(versions))
    if len(ids) <= 1000:
        query = query.where(SM.c.account_id.in_(ids))
    measures: dict[tuple[str, date, str], dict[str, MeasureResult]] = {}
    for m in store.fetch(query.order_by(SM.c.group_name, SM.c.measure)):
        key = (m["account_id"], m["as_of"], m["version"])
        measures.setdefault(key, {})[m["measure"]] = MeasureResult(
            value=m["value"],
            points=m["points"],
            weight=m["weight"],
            group=m["group_name"],
            note=m["note"],
        )
    return [
        AccountScore(
            account_id=r["account_id"],
            as_of=r["as_of"],
            version=r["version"],
            segment=r["segment"],
            score=r["score"],
            band=r["band"],
            status=r["status"],
            coverage=r["coverage"],
            groups=json.loads(r["groups"]),
            measures=measures.get((r["account_id"], r["as_of"], r["version"]), {}),
            reasons=[Reason(**x) for x in json.loads(r["reasons"])],
            previous_score=r["previous_score"],
            change=r["change"],
        )
        for r in rows
    ]
