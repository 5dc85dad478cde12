"""The playbooks file: validation by key path and line, templates, owners."""

from __future__ import annotations

import pytest

import factories as f
from kenko.playbooks.actions import resolve_owner
from kenko.playbooks.rules import PlaybooksError, parse_playbooks
from kenko.playbooks.template import placeholders, playbooks_template, render

SCORECARD = f.scorecard(
    [{"name": "Engagement", "weight": 1, "measures": [f.measure("logins_28d")]}]
)

RULE = """\
people:
  alice: {manager: carol}
  carol: {}
  ops: {}
fallback_owner: ops
rules:
  - name: low
    trigger:
      score_below: {threshold: 40}
    action:
      title: "Call {name}"
      owner: %s
"""


def test_playbooks__template_written_by_init_is_valid() -> None:
    pb = parse_playbooks(playbooks_template(), scorecard=SCORECARD)
    assert [r.name for r in pb.rules] == ["low-score"]
    assert pb.rules[0].trigger.kind == "score_below"


def test_playbooks__errors_name_key_path_and_line() -> None:
    text = """\
rules:
  - name: low
    trigger:
      score_below: {threshold: 140}
    rearm_margin: -1
    action:
      title: x
      colour: red
"""
    with pytest.raises(PlaybooksError) as caught:
        parse_playbooks(text)
    assert [p for p, _ in caught.value.problems] == [
        "rules[0].trigger.score_below.threshold (line 4)",
        "rules[0].rearm_margin (line 5)",
        "rules[0].action.colour (line 8)",
    ]
    assert "less than or equal to 100" in caught.value.problems[0][1]
    assert "(found 140)" in caught.value.problems[0][1]


def test_playbooks__two_triggers_in_one_rule_are_refused() -> None:
    text = """\
rules:
  - name: low
    trigger:
      score_below: {threshold: 40}
      enters_band: {band: red}
    action: {title: x}
"""
    with pytest.raises(PlaybooksError) as caught:
        parse_playbooks(text)
    where, message = caught.value.problems[0]
    assert where == "rules[0].trigger (line 4)"
    assert "found score_below, enters_band" in message


def test_playbooks__unknown_measure_band_owner_and_placeholder_are_refused() -> None:
    text = """\
rules:
  - name: quiet
    trigger:
      measure: {measure: days_since_login, op: ">=", value: 14}
    action:
      title: "{account_id} {measures.nope} {secret}"
      owner: bob
  - name: red
    trigger:
      enters_band: {band: crimson}
    action: {title: x}
"""
    with pytest.raises(PlaybooksError) as caught:
        parse_playbooks(text, scorecard=SCORECARD)
    assert caught.value.problems == [
        (
            "rules[0].action.owner (line 7)",
            "'bob' is neither a role (csm, manager_of_csm) nor a person under "
            "people:; add them under people:",
        ),
        (
            "rules[0].action.title (line 6)",
            "unknown placeholder {measures.nope}; use one of account_id, name, owner, "
            "score, band, segment, reasons, as_of, rule, mrr, days_to_renewal or "
            "measures.NAME",
        ),
        (
            "rules[0].action.title (line 6)",
            "unknown placeholder {secret}; use one of account_id, name, owner, "
            "score, band, segment, reasons, as_of, rule, mrr, days_to_renewal or "
            "measures.NAME",
        ),
        (
            "rules[0].trigger.measure.measure (line 4)",
            "the scorecard has no measure 'days_since_login'",
        ),
        (
            "rules[1].trigger.enters_band (line 10)",
            "the scorecard has no band 'crimson'; its bands are green, red, yellow",
        ),
    ]


@pytest.mark.parametrize(
    ("spec", "csm", "expected"),
    [
        ("csm", "alice", "alice"),
        ("csm", None, "ops"),
        ("manager_of_csm", "alice", "carol"),
        ("manager_of_csm", "carol", "ops"),  # carol has no manager
        ("manager_of_csm", "stranger", "ops"),
        ("carol", "alice", "carol"),
    ],
)
def test_owner__resolves_csm_manager_and_named_person(
    spec: str, csm: str | None, expected: str
) -> None:
    pb = parse_playbooks(RULE % spec)
    assert resolve_owner(pb.rules[0].action.owner, csm, pb) == expected


def test_template__fills_known_values_and_evaluates_nothing() -> None:
    text = "{account_id} at {score} ({band}); logins {measures.logins_28d}; {{x}}"
    values = {"account_id": "a1", "score": 38.25, "band": "red"}
    values["measures.logins_28d"] = 3.0
    assert render(text, values) == "a1 at 38.25 (red); logins 3; {x}"
    assert render("{name.__class__} {missing}", {"name": "n"}) == "— —"
    assert render("{0} {a[0]} {score:>10}", {"score": 1.0}) == "{0} {a[0]} {score:>10}"
    assert placeholders("{a} {b} {a} {measures.m}") == ["a", "b", "measures.m"]
