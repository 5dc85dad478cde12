import json
from pathlib import Path

import pytest
import yaml

from kenko.errors import ScorecardError
from kenko.scorecard import json_schema, parse_scorecard, template_text, version_of

MINIMAL = """\
groups:
  - name: Adoption
    measures:
      - name: logins_28d
        events: [login]
        scoring: {linear: {zero_at: 0, full_at: 20}}
"""


def test_scorecard__template_is_valid_and_has_dear_groups() -> None:
    sc = parse_scorecard(template_text())
    assert [g.name for g in sc.scorecard.groups] == [
        "Deployment",
        "Engagement",
        "Adoption",
        "ROI",
    ]


def test_scorecard__version_is_the_sha256_of_the_text() -> None:
    sc = parse_scorecard(MINIMAL)
    assert sc.version == version_of(MINIMAL)
    assert len(sc.version) == 64
    assert parse_scorecard(MINIMAL + "\n").version != sc.version


def test_scorecard__defaults_bands_red_yellow_green() -> None:
    sc = parse_scorecard(MINIMAL).scorecard
    variant = sc.variants()[-1][2]
    assert [(b.name, b.below) for b in sc.bands] == [
        ("red", 40),
        ("yellow", 70),
        ("green", None),
    ]
    assert variant.band_for(39.9).name == "red"
    assert variant.band_for(40).name == "yellow"
    assert variant.band_for(70).name == "green"


def test_scorecard__errors_name_key_path_line_and_fix() -> None:
    text = MINIMAL.replace("events: [login]", "events: [login]\n        windw: 28d")
    text = text.replace("zero_at: 0, full_at: 20", "zero_at: 5, full_at: 5")
    with pytest.raises(ScorecardError) as info:
        parse_scorecard(text, Path("scorecard.yaml"))
    problems = dict(info.value.problems)
    assert "groups[0].measures[0].windw (line 6)" in problems
    assert "check its spelling" in problems["groups[0].measures[0].windw (line 6)"]
    assert any("zero_at and full_at must differ" in m for m in problems.values())
    assert "scorecard.yaml" in str(info.value)


def test_scorecard__two_sources_are_refused() -> None:
    text = MINIMAL.replace(
        "events: [login]", "events: [login]\n        attribute: seats"
    )
    with pytest.raises(ScorecardError, match="exactly one source"):
        parse_scorecard(text)


def test_scorecard__bands_must_rise() -> None:
    text = "bands:\n  - {name: a, below: 70}\n  - {name: b, below: 40}\n  - {name: c}\n"
    with pytest.raises(ScorecardError, match="from the lowest up"):
        parse_scorecard(text + MINIMAL)


def test_scorecard__not_yaml_is_a_clear_error() -> None:
    with pytest.raises(ScorecardError, match="not valid YAML"):
        parse_scorecard("groups: [unclosed\n")


def test_scorecard__json_schema_covers_measures() -> None:
    schema = json_schema()
    assert schema["title"] == "kenko scorecard"
    assert "Measure" in schema["$defs"]
    assert "aggregation" in schema["$defs"]["Measure"]["properties"]
    json.dumps(schema)


def test_scorecard__segments_pick_their_own_groups() -> None:
    text = MINIMAL + yaml.safe_dump(
        {
            "segments": [
                {
                    "name": "enterprise",
                    "when": {"tier": "enterprise"},
                    "groups": [
                        {
                            "name": "Engagement",
                            "measures": [
                                {
                                    "name": "meetings_90d",
                                    "events": ["meeting"],
                                    "window": "90d",
                                    "scoring": {"boolean": {}},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    variants = parse_scorecard(text).scorecard.variants()
    assert [name for name, _, _ in variants] == ["enterprise", "default"]
    assert [m.name for _, m in variants[0][2].measures()] == ["meetings_90d"]


def test_scorecard__all_group_weights_zero_is_refused() -> None:
    text = MINIMAL.replace(
        "  - name: Adoption\n", "  - name: Adoption\n    weight: 0\n"
    )
    with pytest.raises(ScorecardError, match="every group weight is 0"):
        parse_scorecard(text)


def test_scorecard__group_whose_measures_all_weigh_zero_is_refused() -> None:
    text = MINIMAL.replace("events: [login]", "events: [login]\n        weight: 0")
    with pytest.raises(ScorecardError, match="every measure in it has weight 0"):
        parse_scorecard(text)
