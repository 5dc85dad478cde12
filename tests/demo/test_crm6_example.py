"""examples/crm6: its settings map the shared export and its scorecard is complete."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kenko.scorecard.model import Scorecard
from kenko.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crm6"


def test_crm6_example__settings_map_every_shared_file() -> None:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    paths = [(EXAMPLE / d).resolve() for d in settings.data]

    assert [p.name for p in paths] == [
        "accounts.csv",
        "subscriptions.csv",
        "events.parquet",
    ]
    assert [settings.entity_for(p) for p in paths] == [
        "accounts",
        "subscriptions",
        "events",
    ]
    assert settings.subscriptions.columns["billing_term"] == "bill_period_months"
    assert settings.events.columns == {
        "account_id": "account_id",
        "type": "event_type",
        "timestamp": "event_time",
        "user_id": "user_id",
        "value": "event_value",
    }
    assert settings.seat_units == ["users"]


@pytest.mark.crm6
def test_crm6_example__data_paths_reach_the_shared_export() -> None:
    settings = Settings.model_validate(
        yaml.safe_load((EXAMPLE / "kenko.yaml").read_text())
    )
    missing = [d for d in settings.data if not (EXAMPLE / d).is_file()]
    assert missing == []


def test_crm6_example__scorecard_has_the_required_measures() -> None:
    scorecard = Scorecard.model_validate(
        yaml.safe_load((EXAMPLE / "scorecard.yaml").read_text())
    )
    measures = {m.name: m for g in scorecard.groups for m in g.measures}

    meetings = measures["meetings_28d"]
    assert (meetings.events, meetings.aggregation, meetings.window) == (
        ["meeting"],
        "count",
        "28d",
    )
    users = measures["active_users_28d"]
    assert (users.events, users.aggregation, users.window) == (
        ["*"],
        "distinct_users",
        "28d",
    )
    assert [g.name for g in scorecard.groups] == [
        "Deployment",
        "Engagement",
        "Adoption",
        "ROI",
    ]
