"""Workspace settings: the model of ``kenko.yaml``.

Every setting is defined once here, with its default and help text; ``kenko init``
writes them out with comments, and a test checks that each one is documented.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class Settings(_Strict):
    """The whole of ``kenko.yaml``."""

    store: str = Field(
        "kenko.duckdb",
        description="Where kenko keeps its data: a DuckDB file (relative to the "
        "workspace) or a SQLAlchemy URL such as postgresql+psycopg://user@host/db.",
    )
    scorecard: str = Field("scorecard.yaml", description="The live scorecard file.")
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
    """Read and validate ``kenko.yaml``; errors name the key path and the fix."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"not valid YAML: {exc}", where=str(path)) from exc
    if not isinstance(raw, dict):
        raise SettingsError("expected a mapping of settings", where=str(path))
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise SettingsError(
            f"{key}: {first['msg']} (value: {first.get('input')!r})",
            where=str(path),
            fix="see the comments `kenko init` writes into kenko.yaml",
        ) from exc
