"""Reading scorecard files: YAML → validated model, errors by key path and line."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kenko.errors import ScorecardError
from kenko.scorecard.model import Scorecard
from kenko.yamlcheck import read_text, validate_yaml


@dataclass(frozen=True)
class ScorecardFile:
    """A validated scorecard with the text it came from and that text's version."""

    scorecard: Scorecard
    text: str
    version: str
    path: Path | None = None


def version_of(text: str) -> str:
    """A scorecard version: the sha256 of its text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_text() -> str:
    """The commented DEAR template that `kenko init` writes."""
    return (
        resources.files("kenko.scorecard").joinpath("template.yaml").read_text("utf-8")
    )


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scorecard file, for editor completion."""
    schema = Scorecard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kenko scorecard"
    return schema


def read_scorecard(path: Path) -> ScorecardFile:
    """Read and validate a scorecard file."""
    text = read_text(
        path,
        error=ScorecardError,
        what="scorecard",
        fix="check the `scorecard` setting in kenko.yaml",
    )
    return parse_scorecard(text, path)


def parse_scorecard(text: str, path: Path | None = None) -> ScorecardFile:
    """Validate scorecard text; every problem is reported with its key path and line."""
    where = str(path) if path else "scorecard"
    scorecard, _ = validate_yaml(
        text,
        Scorecard,
        error=ScorecardError,
        where=where,
        what="scorecard",
        fix=_template_fix(),
    )
    semantic = _semantic_problems(scorecard)
    if semantic:
        raise ScorecardError(
            f"{len(semantic)} problem(s) in the scorecard",
            where=where,
            problems=semantic,
        )
    return ScorecardFile(scorecard, text, version_of(text), path)


def _semantic_problems(scorecard: Scorecard) -> list[tuple[str, str]]:
    # Formula names, cycles and period arithmetic are the engine's to judge.
    from kenko.measures import check_scorecard_semantics

    return list(check_scorecard_semantics(scorecard))


def _template_fix() -> str:
    return "start from the template: `kenko init` writes a commented scorecard.yaml"


def write_json_schema(path: Path) -> None:
    path.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
