"""The scorecard: what is measured, how it becomes points, and how points add up.

A scorecard has groups (DEAR by default: Deployment, Engagement, Adoption, ROI) with
weights; each group has measures with weights. A measure says where its value comes
from (events, an account attribute, a subscription field or a formula over other
measures), how it is aggregated over a trailing window, how it is normalised, how the
value becomes 0-100 points, and what happens when it has no value.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kenko.durations import Duration

Aggregation = Literal[
    "count",
    "sum",
    "mean",
    "median",
    "min",
    "max",
    "distinct_users",
    "active_days",
    "days_since_last",
    "last_value",
    "change",
    "nps",
]
# Aggregations that can be taken per period, then summarised (median weekly count).
PERIOD_AGGREGATIONS = ("count", "sum", "distinct_users", "active_days")
SubscriptionField = Literal[
    "mrr", "seats", "products", "tenure_days", "days_to_renewal"
]
MissingPolicy = Literal["exclude", "zero", "neutral", "carry_last"]
Normalise = Literal["per_seat", "per_active_user", "tenure_scaled"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PerPeriod(_Strict):
    """Aggregate per period inside the window, then summarise the periods."""

    period: str = Field(description="Length of one period, e.g. '1w'.")
    statistic: Literal["median", "mean", "max", "min"] = "median"

    @field_validator("period")
    @classmethod
    def _duration(cls, value: str) -> str:
        Duration.parse(value)
        return value


class Threshold(_Strict):
    """``min`` or more earns ``points``; thresholds are tried from the highest min."""

    min: float | None = Field(
        None, description="Lower bound (inclusive); omit for 'else'."
    )
    points: float = Field(ge=0, le=100)


class Linear(_Strict):
    """0 points at ``zero_at``, 100 at ``full_at``, straight line between, clamped.

    ``zero_at`` above ``full_at`` scores lower-is-better measures (days since login).
    """

    zero_at: float
    full_at: float

    @model_validator(mode="after")
    def _distinct(self) -> Linear:
        if self.zero_at == self.full_at:
            raise ValueError("zero_at and full_at must differ")
        return self


class Percentile(_Strict):
    """Points = percentile rank (0-100) of the value among accounts scored that day.

    ``within`` names an account attribute: ranks are taken within each of its values.
    """

    within: str | None = None
    higher_is_better: bool = True


class Boolean(_Strict):
    """A value above zero (or true) earns ``true_points``, else ``false_points``."""

    true_points: float = Field(100, ge=0, le=100)
    false_points: float = Field(0, ge=0, le=100)


class Scoring(_Strict):
    """Exactly one scheme turning a value into 0-100 points."""

    thresholds: list[Threshold] | None = None
    linear: Linear | None = None
    percentile: Percentile | None = None
    boolean: Boolean | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Scoring:
        chosen = [
            k
            for k in ("thresholds", "linear", "percentile", "boolean")
            if getattr(self, k)
        ]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of thresholds, linear, percentile or boolean "
                f"(found {chosen or 'none'})"
            )
        if self.thresholds is not None:
            floors = [t for t in self.thresholds if t.min is None]
            if len(floors) > 1:
                raise ValueError(
                    "only one threshold may leave out min (the 'else' row)"
                )
        return self

    @property
    def scheme(self) -> str:
        for k in ("thresholds", "linear", "percentile", "boolean"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated to have one scheme")


class Measure(_Strict):
    """One indicator: its source, aggregation, window, normalisation and scoring."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    weight: float = Field(1.0, ge=0)

    # Source: exactly one of these.
    events: list[str] | None = Field(
        None, description="Event types to aggregate; ['*'] means every event type."
    )
    attribute: str | None = Field(
        None, description="An account attribute (or 'seats')."
    )
    subscription: SubscriptionField | None = None
    formula: str | None = Field(
        None,
        description="Arithmetic over other measures, e.g. 'active_users_28d / seats'.",
    )

    aggregation: Aggregation = "count"
    window: str = "28d"
    per_period: PerPeriod | None = None
    change_of: Literal["count", "sum", "distinct_users", "active_days", "mean"] = Field(
        "count", description="With aggregation 'change': what is compared."
    )
    change_as: Literal["ratio", "difference"] = Field(
        "ratio",
        description="With aggregation 'change': (now - before) / before, "
        "or now - before.",
    )
    normalise: Normalise | None = None
    scoring: Scoring
    missing: MissingPolicy = "exclude"
    neutral_points: float = Field(50, ge=0, le=100)

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        Duration.parse(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Measure:
        sources = [
            k
            for k in ("events", "attribute", "subscription", "formula")
            if getattr(self, k)
        ]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one source: events, attribute, subscription or formula "
                f"(found {sources or 'none'})"
            )
        if self.per_period is not None:
            if self.aggregation not in PERIOD_AGGREGATIONS:
                raise ValueError(
                    f"per_period works with {', '.join(PERIOD_AGGREGATIONS)}, "
                    f"not {self.aggregation}"
                )
            period = Duration.parse(self.per_period.period)
            window = Duration.parse(self.window)
            if period.approx_days() > window.approx_days():
                raise ValueError(f"per_period {period} is longer than window {window}")
        return self

    @property
    def source_kind(self) -> str:
        for k in ("events", "attribute", "subscription", "formula"):
            if getattr(self, k):
                return k
        raise AssertionError("validated to have one source")


class Group(_Strict):
    """A DEAR group (or any name) with a weight and its measures."""

    name: str
    weight: float = Field(1.0, ge=0)
    measures: list[Measure] = Field(min_length=1)


class Band(_Strict):
    """A labelled score range; bands are listed from the lowest up."""

    name: str
    below: float | None = Field(
        None, description="Upper bound (exclusive); omit on the last."
    )
    color: str = "#888888"


DEFAULT_BANDS = [
    Band(name="red", below=40, color="#d62728"),
    Band(name="yellow", below=70, color="#f2b701"),
    Band(name="green", below=None, color="#2ca02c"),
]


class Eligibility(_Strict):
    """Below either limit an account is ``insufficient_data``: neither red nor green."""

    min_tenure: str | None = Field("30d", description="Youngest account scored.")
    min_coverage: float = Field(
        0.5, ge=0, le=1, description="Least share of weight with data."
    )

    @field_validator("min_tenure")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            Duration.parse(value)
        return value


class Outcome(_Strict):
    """What churn and renewal mean for this company (text, for people)."""

    churn: str = "Every subscription has ended and none restarted within 31 days."
    renewal: str = "A subscription reaches its renewal date and continues."


class Segment(_Strict):
    """A scorecard variant for accounts whose attributes match ``when``."""

    name: str
    when: dict[str, str | list[str]] = Field(min_length=1)
    groups: list[Group] | None = None
    bands: list[Band] | None = None
    eligibility: Eligibility | None = None


class Scorecard(_Strict):
    """The whole scorecard file."""

    name: str = "default"
    purpose: str = (
        "Pick out accounts likely to churn; a high score means likely to renew."
    )
    outcome: Outcome = Field(default_factory=Outcome)
    bands: list[Band] = Field(default_factory=lambda: list(DEFAULT_BANDS))
    eligibility: Eligibility = Field(default_factory=Eligibility)
    groups: list[Group] = Field(min_length=1)
    segments: list[Segment] = Field(default_factory=list)
    top_reasons: int = Field(3, ge=0, le=20)

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        _check_bands(self.bands)
        names: set[str] = set()
        for variant in [self.groups, *[s.groups for s in self.segments if s.groups]]:
            seen: set[str] = set()
            for group in variant:
                for m in group.measures:
                    if m.name in seen:
                        raise ValueError(f"measure name {m.name!r} is used twice")
                    seen.add(m.name)
            names |= seen
        for segment in self.segments:
            if segment.bands:
                _check_bands(segment.bands)
        self._check_weights()
        return self

    def _check_weights(self) -> None:
        for name, _, variant in self.variants():
            if sum(g.weight for g in variant.groups) <= 0:
                raise ValueError(
                    f"{name}: every group weight is 0; give one a weight > 0"
                )
            for g in variant.groups:
                if g.weight > 0 and sum(m.weight for m in g.measures) <= 0:
                    raise ValueError(
                        f"{name}: group {g.name!r} has weight but every measure in it "
                        "has weight 0"
                    )

    def variants(
        self,
    ) -> list[tuple[str, dict[str, str | list[str]] | None, ScorecardVariant]]:
        """(segment name, condition, variant) for each segment, then the default."""
        out: list[tuple[str, dict[str, str | list[str]] | None, ScorecardVariant]] = []
        for s in self.segments:
            out.append(
                (
                    s.name,
                    s.when,
                    ScorecardVariant(
                        groups=s.groups or self.groups,
                        bands=s.bands or self.bands,
                        eligibility=s.eligibility or self.eligibility,
                    ),
                )
            )
        out.append(
            (
                "default",
                None,
                ScorecardVariant(self.groups, self.bands, self.eligibility),
            )
        )
        return out


class ScorecardVariant:
    """The groups, bands and eligibility that apply to one segment."""

    def __init__(
        self, groups: list[Group], bands: list[Band], eligibility: Eligibility
    ):
        self.groups = groups
        self.bands = bands
        self.eligibility = eligibility

    def measures(self) -> list[tuple[Group, Measure]]:
        return [(g, m) for g in self.groups for m in g.measures]

    def band_for(self, score: float) -> Band:
        for band in self.bands:
            if band.below is None or score < band.below:
                return band
        return self.bands[-1]


def _check_bands(bands: list[Band]) -> None:
    if not bands:
        raise ValueError("bands: list at least one band")
    bounds = [b.below for b in bands[:-1]]
    if any(b is None for b in bounds):
        raise ValueError("bands: only the last band may leave out 'below'")
    if bands[-1].below is not None:
        raise ValueError("bands: the last band must leave out 'below' (it has no top)")
    numbers = [b for b in bounds if b is not None]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise ValueError("bands: list them from the lowest up, each 'below' higher")
