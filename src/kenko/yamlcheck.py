"""Reading YAML config files with every problem reported by key path and line.

The scorecard and the playbooks file both validate with pydantic; these helpers turn
pydantic's errors into ``(where, message)`` pairs such as
``("rules[0].trigger.score_below.threshold (line 7)", "Input should be ...")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kenko.errors import KenkoError

_HINTS = {
    "extra_forbidden": "remove the key or check its spelling against the JSON Schema",
    "missing": "add the key",
    "literal_error": "use one of the listed values",
}


def load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The parsed value and the node tree (for line numbers); raises yaml.YAMLError."""
    return yaml.safe_load(text), yaml.compose(text)


def problems_of(exc: ValidationError, root: yaml.Node | None) -> list[tuple[str, str]]:
    """Every error of a validation, as (key path with line, message with hint)."""
    return [describe(err, root) for err in exc.errors()]


def describe(err: Any, root: yaml.Node | None) -> tuple[str, str]:
    """One pydantic error as (key path with line, message with hint)."""
    loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
    path = key_path(loc)
    line = line_of(root, loc)
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] not in ("missing",) and "input" in err:
        shown = err["input"]
        if not isinstance(shown, dict | list):
            message += f" (found {shown!r})"
    hint = _HINTS.get(err["type"])
    if hint:
        message += f"; {hint}"
    where = f"{path} (line {line})" if line else path
    return where, message


def key_path(loc: list[Any] | tuple[Any, ...]) -> str:
    """``["rules", 0, "action"]`` -> ``rules[0].action``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def line_of(node: yaml.Node | None, loc: list[Any] | tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node along ``loc`` that the file has."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def at(root: yaml.Node | None, loc: list[Any] | tuple[Any, ...]) -> str:
    """A key path with its line, for problems found after validation."""
    line = line_of(root, loc)
    path = key_path(loc)
    return f"{path} (line {line})" if line else path


M = TypeVar("M", bound=BaseModel)


def validate_yaml(
    text: str,
    model: type[M],
    *,
    error: type[KenkoError],
    where: str,
    what: str,
    fix: str | None = None,
    empty_ok: bool = False,
) -> tuple[M, yaml.Node | None]:
    """Parse and validate a YAML file's text as ``model``, or raise ``error`` listing
    every problem by key path and line. Returns the model and the node tree (for the
    lines of problems found later)."""
    try:
        raw, root = load_yaml(text)
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML: {exc}", where=where, fix=fix) from exc
    if raw is None and empty_ok:
        raw = {}
    if not isinstance(raw, dict):
        raise error(f"the {what} must be a YAML mapping of keys", where=where, fix=fix)
    try:
        return model.model_validate(raw), root
    except ValidationError as exc:
        problems = problems_of(exc, root)
        raise error(
            f"{len(problems)} problem(s) in the {what}",
            where=where,
            fix=fix,
            problems=problems,
        ) from exc


def read_text(path: Path, *, error: type[KenkoError], what: str, fix: str) -> str:
    """A config file's text, or ``error`` saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(
            f"cannot read the {what}: {exc.strerror}", where=str(path), fix=fix
        ) from exc
