"""Tables of the store, as SQLAlchemy Core metadata (DuckDB and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

loads = sa.Table(
    "loads",
    metadata,
    sa.Column("load_id", sa.String(36), primary_key=True),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("entity", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("rows_read", sa.BigInteger, nullable=False),
    sa.Column("accepted", sa.BigInteger, nullable=False),
    sa.Column("rejected", sa.BigInteger, nullable=False),
    sa.Column("duplicates", sa.BigInteger, nullable=False),
    sa.Column("loaded_at", sa.DateTime, nullable=False),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("load_id", sa.String(36), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column(
        "row", sa.BigInteger, nullable=False
    ),  # 1-based data row, header excluded
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("seats", sa.Double),
    sa.Column("parent_id", sa.Text),
    sa.Column("timezone", sa.Text),
    # The day the export was taken: non-static attributes are unknown before it.
    sa.Column("known_on", sa.Date, nullable=False),
    sa.Column("load_id", sa.String(36), nullable=False),
)

account_attributes = sa.Table(
    "account_attributes",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("static", sa.Boolean, nullable=False),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("subscription_id", sa.Text),
    sa.Column("product", sa.Text, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),  # exclusive; NULL = open
    sa.Column("mrr", sa.Double, nullable=False),
    sa.Column("quantity", sa.Double),
    sa.Column("units", sa.Text),
    sa.Column("billing_months", sa.Integer),  # 0 = one-time
    sa.Column("end_reason", sa.Text),
    sa.Column("canceled_at", sa.Date),
    sa.Column("load_id", sa.String(36), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("ts", sa.DateTime, nullable=False),  # UTC, no zone
    sa.Column("value", sa.Double),
    sa.Column("load_id", sa.String(36), nullable=False),
)

scorecard_versions = sa.Table(
    "scorecard_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),  # sha256 of the text
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("first_used", sa.DateTime, nullable=False),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("score", sa.Double),
    sa.Column("band", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("coverage", sa.Double, nullable=False),
    sa.Column("previous_score", sa.Double),
    sa.Column("change", sa.Double),
    sa.Column("groups", sa.Text, nullable=False),  # JSON: name -> score or null
    sa.Column("reasons", sa.Text, nullable=False),  # JSON list
    sa.Column("computed_at", sa.DateTime, nullable=False),
)

snapshot_measures = sa.Table(
    "snapshot_measures",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("measure", sa.Text, primary_key=True),
    sa.Column("group_name", sa.Text, nullable=False),
    sa.Column("value", sa.Double),
    sa.Column("points", sa.Double),
    sa.Column(
        "weight", sa.Double, nullable=False
    ),  # share of the score, after renormalising
    sa.Column("note", sa.Text),  # why a value is missing or carried
)

sa.Index("ix_subscriptions_account", subscriptions.c.account_id)
sa.Index("ix_quarantine_load", quarantine.c.load_id)
