"""Action text templates: ``{name}`` placeholders filled from plain values only.

No attribute access, indexing or format specs are evaluated (unlike ``str.format``),
so a template cannot reach into kenko's objects. ``{{`` and ``}}`` write braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")


def placeholders(template: str) -> list[str]:
    """The placeholder names a template uses, in order of first use."""
    names = [m.group(1) for m in _FIELD.finditer(template) if m.group(1)]
    return list(dict.fromkeys(names))


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill placeholders; unknown or missing values show as an em dash."""

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return _text(values.get(match.group(1)))

    return _FIELD.sub(fill, template)


def _text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    return str(value)


PLAYBOOKS_TEMPLATE = """\
# kenko playbooks: rules that open an action when an account's health falls.
# Check with `kenko playbooks check`; `kenko run` applies them every day.
#
# Triggers (exactly one per rule):
#   score_below: {threshold: 40, snapshots: 2}   below 40 on 2 snapshots in a row
#   enters_band: {band: red}
#   drop: {points: 15, over: 28d}               fell 15+ points in 28 days
#   measure: {measure: days_since_login, op: ">=", value: 14}
#   renewal: {within_days: 60, unless_band: green}
# Limits (all optional): where: {segment: [..], attributes: {tier: enterprise},
#   mrr_min: 500, mrr_max: 5000, owner: [alice]}
# Flap control: after firing, a rule waits until the account recovers past the line
# by rearm_margin (default 5); cooldown: 30d; auto_close: true closes the action on
# recovery. holdout: 0.1 holds out 10% of triggers (no task) to measure the effect.
# Placeholders in title / description: {account_id} {name} {owner} {score} {band}
#   {segment} {reasons} {as_of} {rule} {mrr} {days_to_renewal} {measures.NAME}
# Owners: csm (the account's owner), manager_of_csm, or a person under people:.

people:
  cs-lead: {email: cs-lead@example.com}
fallback_owner: cs-lead

rules:
  - name: low-score
    trigger:
      score_below: {threshold: 40, snapshots: 2}
    rearm_margin: 5
    auto_close: true
    holdout: 0.1
    action:
      title: "Health review: {name} at {score}"
      description: |
        {name} ({account_id}) has scored below 40 on two snapshots in a row
        (now {score}, {band}). Biggest reasons: {reasons}.
      owner: csm
      due_in_days: 7
      priority: high
      steps:
        - Review the account's original goals and what they use today
        - Meet the customer, with a manager present
        - Agree a recovery plan and record it
"""


def playbooks_template() -> str:
    """The commented playbooks.yaml that `kenko init` writes."""
    return PLAYBOOKS_TEMPLATE
