"""Workspace settings: the model of ``kenko.yaml``.

Every setting is defined once here, with its default and help text; ``kenko init``
writes them out with comments, and a test checks that each one is documented.
"""

from __future__ import annotations

import fnmatch
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from kenko.durations import Duration
from kenko.errors import SettingsError

Entity = Literal["accounts", "subscriptions", "events"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValueRule(_Strict):
    """What an event type's numeric value may be (e.g. NPS: integers 0..10)."""

    required: bool = Field(
        True, description="Rows of this type without a value are rejected."
    )
    integer: bool = Field(False, description="Only whole numbers are accepted.")
    min: float | None = Field(None, description="Smallest accepted value.")
    max: float | None = Field(None, description="Largest accepted value.")


class EntitySource(_Strict):
    """How one entity's files map onto kenko's fields."""

    files: list[str] = Field(
        default_factory=list,
        description="File name patterns (glob) that hold this entity, "
        "e.g. 'events*.parquet'.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="kenko field -> column in the file, "
        "e.g. {account_id: customer_id}.",
    )
    constants: dict[str, str] = Field(
        default_factory=dict,
        description="kenko field -> fixed value for every row, e.g. {type: meeting}.",
    )
    attributes: list[str] | Literal["auto"] = Field(
        "auto",
        description="accounts only: columns kept as segment attributes; 'auto' keeps "
        "every column not mapped to a field.",
    )
    static_attributes: list[str] = Field(
        default_factory=list,
        description="accounts only: attributes that never change (channel, founded "
        "date) and so may be used for any past as-of date.",
    )
    delimiter: str = Field(
        ",",
        min_length=1,
        max_length=1,
        description="CSV only: the character between fields, e.g. ';' or a tab.",
    )
    date_format: str | None = Field(
        None,
        description="strftime format of dates and timestamps, e.g. '%d/%m/%Y'. Needed "
        "when dates are written day/month or month/day.",
    )
    timezone: str | None = Field(
        None,
        description="Time zone of timestamps without an offset in these files "
        "(default: the workspace time zone).",
    )
    value_rules: dict[str, ValueRule] = Field(
        default_factory=lambda: {
            "nps": ValueRule(integer=True, min=0, max=10),
        },
        description="events only: event type -> rule for its value.",
    )

    def matches(self, path: Path) -> bool:
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in self.files)


class WebhookSettings(_Strict):
    """One webhook that notifications are POSTed to as JSON."""

    name: str = Field(
        description="Short name of this webhook, unique; used in logs and the outbox "
        "(the URL is never logged, since it may carry a token).",
    )
    url: str = Field(
        description="http(s) URL to POST to; its host must be in "
        "notifications.allowed_hosts.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            host = parts.hostname
        except ValueError:
            host, parts = None, None
        if parts is None or parts.scheme not in ("http", "https"):
            raise ValueError(
                "a webhook URL must start with http:// or https://, e.g. "
                "https://hooks.example.com/kenko"
            )
        if not host:
            raise ValueError(
                "a webhook URL needs a host, e.g. https://hooks.example.com/kenko"
            )
        return value

    slack: bool = Field(
        False,
        description='Send a Slack-compatible body {"text": ...} instead of kenko\'s '
        "JSON notification.",
    )
    secret_env: str | None = Field(
        None,
        description="Name of the environment variable holding the HMAC secret; when "
        "set, each body is signed in the X-Kenko-Signature header.",
    )


class SmtpSettings(_Strict):
    """The mail server that e-mail notifications go through."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True)

    host: str = Field(
        description="SMTP server host name; must be in notifications.allowed_hosts."
    )
    port: int = Field(587, description="SMTP server port.")
    from_address: str = Field(alias="from", description="Sender address.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    username_env: str | None = Field(
        None,
        description="Name of the environment variable holding the SMTP user name "
        "(no login when unset).",
    )
    password_env: str | None = Field(
        None,
        description="Name of the environment variable holding the SMTP password.",
    )
    starttls: bool = Field(
        True, description="Upgrade the connection with STARTTLS before logging in."
    )


class NotificationSettings(_Strict):
    """Where notifications go and how hard kenko tries to deliver them."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names kenko may deliver to (webhook hosts and the SMTP "
        "host), matched exactly; a target not listed is an error in the settings.",
    )
    webhooks: list[WebhookSettings] = Field(
        default_factory=list, description="Webhooks that receive every notification."
    )
    timeout_seconds: float = Field(
        5, gt=0, description="Seconds to wait on a webhook or mail server."
    )
    max_attempts: int = Field(
        5,
        ge=1,
        description="Attempts per notification before it is given up (kept in the "
        "outbox as dead).",
    )
    tries_per_run: int = Field(
        3,
        ge=1,
        description="Attempts per notification within one delivery run, with short "
        "back-off sleeps; later attempts wait for a later run.",
    )
    backoff_seconds: float = Field(
        2,
        ge=0,
        description="Wait after the first failed attempt; it doubles after each "
        "further failure, up to backoff_cap_seconds.",
    )
    backoff_cap_seconds: float = Field(
        3600, ge=0, description="Longest wait between two attempts."
    )
    smtp: SmtpSettings | None = Field(
        None, description="Mail server for e-mail notifications (none when unset)."
    )

    @field_validator("webhooks")
    @classmethod
    def _check_unique_names(cls, value: list[WebhookSettings]) -> list[WebhookSettings]:
        names = [w.name for w in value]
        doubles = sorted({n for n in names if names.count(n) > 1})
        if doubles:
            raise ValueError(f"webhook names must be unique; repeated: {doubles}")
        return value

    @field_validator("webhooks")
    @classmethod
    def _check_webhook_hosts(
        cls, value: list[WebhookSettings], info: ValidationInfo
    ) -> list[WebhookSettings]:
        allowed = {h.lower() for h in info.data.get("allowed_hosts", [])}
        for i, hook in enumerate(value):
            host = urlsplit(hook.url.strip()).hostname or ""
            if host.lower() not in allowed:
                raise ValueError(
                    f"webhooks[{i}] ({hook.name!r}): host {host!r} is not in "
                    f"notifications.allowed_hosts; add {host!r} to allowed_hosts if "
                    "kenko may send to it"
                )
        return value

    @field_validator("smtp")
    @classmethod
    def _check_smtp_host(
        cls, value: SmtpSettings | None, info: ValidationInfo
    ) -> SmtpSettings | None:
        allowed = {h.lower() for h in info.data.get("allowed_hosts", [])}
        if value is not None and value.host.lower() not in allowed:
            raise ValueError(
                f"host {value.host!r} is not in notifications.allowed_hosts; add "
                f"{value.host!r} to allowed_hosts if kenko may send mail through it"
            )
        return value


class ValidationSettings(_Strict):
    """How outcomes (churn, renewal) are read from subscriptions for validation."""

    churn_gap: str = Field(
        "31d",
        description="A line item that (re)starts within this long after the account's "
        "last end is a late renewal, not churn.",
    )
    data_end: date | None = Field(
        None,
        description="The day the data stops: line items ending on or after it were "
        "still running, and outcome horizons past it are censored (default: the "
        "latest start date in the subscriptions).",
    )
    involuntary_reasons: list[str] = Field(
        default_factory=lambda: [
            "payment_failed",
            "involuntary",
            "failed_payment",
            "dunning",
            "nonpayment",
        ],
        description="End reasons that make churn involuntary (a failed payment); "
        "every other end reason is voluntary churn.",
    )
    completed_reasons: list[str] = Field(
        default_factory=lambda: [
            "fixed_term_completed",
            "completed",
            "term_completed",
            "expired_fixed_term",
        ],
        description="End reasons of a fixed term that simply completed: not churn.",
    )

    @field_validator("churn_gap")
    @classmethod
    def _check_gap(cls, value: str) -> str:
        Duration.parse(value)
        return value

    @property
    def gap(self) -> Duration:
        return Duration.parse(self.churn_gap)


class Settings(_Strict):
    """The whole of ``kenko.yaml``."""

    store: str = Field(
        "kenko.duckdb",
        description="Where kenko keeps its data: a DuckDB file (relative to the "
        "workspace) or a SQLAlchemy URL such as postgresql+psycopg://user@host/db.",
    )
    scorecard: str = Field("scorecard.yaml", description="The live scorecard file.")
    playbooks: str = Field(
        "playbooks.yaml",
        description="The playbooks file: rules that open actions when health falls "
        "(`kenko run`, `kenko playbooks check`).",
    )
    data: list[str] = Field(
        default_factory=list,
        description="Files or globs (relative to the workspace) that `kenko load` "
        "reads when given no paths.",
    )
    timezone: str = Field(
        "UTC",
        description="Default time zone for accounts without one and for timestamps "
        "without an offset; decides which calendar day an event falls on.",
    )
    future_tolerance: str = Field(
        "1d",
        description="Events stamped later than the load time plus this are rejected.",
    )
    events_start: date | None = Field(
        None,
        description="The first day the event data covers (default: the UTC date of "
        "the earliest event in the store). An event measure whose window, previous "
        "window or periods start before it has no value on that as-of date.",
    )
    seat_units: list[str] = Field(
        default_factory=lambda: ["seats", "users", "licenses"],
        description="Subscription units that count as seats when accounts carry no "
        "seat count.",
    )
    accounts: EntitySource = Field(
        default_factory=lambda: EntitySource(files=["accounts*"]),
        description="Account files.",
    )
    subscriptions: EntitySource = Field(
        default_factory=lambda: EntitySource(files=["subscriptions*", "line_items*"]),
        description="Subscription / line item files.",
    )
    events: EntitySource = Field(
        default_factory=lambda: EntitySource(files=["events*", "usage*"]),
        description="Event files: product usage, meetings, surveys, tickets.",
    )
    validation: ValidationSettings = Field(
        default_factory=ValidationSettings,
        description="How churn and renewals are read from subscriptions when a "
        "scorecard is validated.",
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="Webhooks and e-mail that playbook notifications are sent to.",
    )

    @field_validator("future_tolerance")
    @classmethod
    def _check_duration(cls, value: str) -> str:
        Duration.parse(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        check_timezone(value)
        return value

    def source(self, entity: Entity) -> EntitySource:
        src: EntitySource = getattr(self, entity)
        return src

    def entity_for(self, path: Path) -> Entity | None:
        """The entity whose file patterns match ``path``'s name, if exactly one does."""
        hits: list[Entity] = [
            e
            for e in ("accounts", "subscriptions", "events")
            if self.source(e).matches(path)
        ]
        return hits[0] if len(hits) == 1 else None


def check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{name!r} is not a time zone; use an IANA name such as 'UTC' or "
            "'Europe/Berlin'"
        ) from exc


def read_settings(path: Path) -> Settings:
    """Read and validate ``kenko.yaml``; every problem is named by key path and line."""
    from kenko.yamlcheck import read_text, validate_yaml

    fix = "see the comments `kenko init` writes into kenko.yaml"
    text = read_text(path, error=SettingsError, what="settings", fix=fix)
    settings, _ = validate_yaml(
        text,
        Settings,
        error=SettingsError,
        where=str(path),
        what="settings",
        fix=fix,
        empty_ok=True,
    )
    return settings
