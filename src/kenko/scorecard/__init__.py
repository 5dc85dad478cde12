"""Scorecards: the YAML model, reading with clear errors, versions and the template."""

from kenko.scorecard.io import (
    ScorecardFile,
    json_schema,
    parse_scorecard,
    read_scorecard,
    template_text,
    version_of,
)
from kenko.scorecard.model import Scorecard

__all__ = [
    "Scorecard",
    "ScorecardFile",
    "json_schema",
    "parse_scorecard",
    "read_scorecard",
    "template_text",
    "version_of",
]
