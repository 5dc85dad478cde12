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

# Notifications waiting for, or done with, delivery (kenko.playbooks.notify). A row
# with channel "*" is a notification as enqueued; delivery routes it into one row per
# configured channel ("webhook:<name>", "email"), each sent at least once.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("outbox_id", sa.String(36), primary_key=True),  # X-Kenko-Delivery
    sa.Column("dedupe_key", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON object
    # new (channel "*") -> routed; pending -> sent | dead | refused
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),  # UTC, no zone
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("sent_at", sa.DateTime),
    sa.UniqueConstraint("dedupe_key", "channel", name="uq_outbox_dedupe_channel"),
)

# -- playbooks: runs, actions and their history, hold-outs, rule state ----------------

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("version", sa.String(64)),  # scorecard version scored
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("duration_s", sa.Double, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # "ok" | "failed"
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("scored", sa.BigInteger, nullable=False),
    sa.Column("opened", sa.BigInteger, nullable=False),
    sa.Column("updated", sa.BigInteger, nullable=False),
    sa.Column("closed", sa.BigInteger, nullable=False),
    sa.Column("held_out", sa.BigInteger, nullable=False),
    sa.Column("notified", sa.BigInteger, nullable=False),
    sa.Column("warnings", sa.Text, nullable=False),  # JSON list of text
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("action_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open|done|dismissed|closed
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("steps", sa.Text, nullable=False),  # JSON list of text
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("opened_on", sa.Date, nullable=False),  # as-of date that triggered it
    sa.Column("opened_score", sa.Double),
    sa.Column("last_seen_on", sa.Date, nullable=False),  # last as-of it still fired
    sa.Column("last_score", sa.Double),
    sa.Column("closed_on", sa.Date),
    sa.Column("run_id", sa.String(36), nullable=False),
)

action_history = sa.Table(
    "action_history",
    metadata,
    sa.Column("action_id", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("change", sa.String(16), nullable=False),  # opened|updated|done|...
    sa.Column("as_of", sa.Date),  # the run's as-of date, for changes a run made
    sa.Column("note", sa.Text),
)

holdouts = sa.Table(
    "holdouts",
    metadata,
    sa.Column("rule", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("score", sa.Double),
    sa.Column("run_id", sa.String(36), nullable=False),
)

rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("rule", sa.Text, primary_key=True),
    sa.Column("account_id", sa.Text, primary_key=True),
    sa.Column("armed", sa.Boolean, nullable=False),
    sa.Column("fired_on", sa.Date),
    sa.Column("fired_score", sa.Double),
    sa.Column("action_id", sa.BigInteger),  # the open action, if any
)

sa.Index("ix_actions_account", actions.c.account_id)
sa.Index("ix_action_history_action", action_history.c.action_id)

# Score -> renewal probability fitted by `kenko calibrate` (kenko.validation.calibrate),
# one row per fit; `kenko score` uses the newest fit of the scorecard version.
calibrations = sa.Table(
    "calibrations",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),  # scorecard version
    sa.Column("fitted_at", sa.DateTime, primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),  # "isotonic" | "logistic"
    sa.Column("horizon", sa.String(16), nullable=False),
    sa.Column("fit_from", sa.Date, nullable=False),  # first as-of date fitted on
    sa.Column("fit_to", sa.Date, nullable=False),  # last as-of date fitted on
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON: {"x": [...], "y": [...]}
)
