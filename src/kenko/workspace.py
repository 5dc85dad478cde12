"""The workspace folder: kenko.yaml, scorecard.yaml and (by default) the store file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kenko.errors import WorkspaceError
from kenko.scorecard import ScorecardFile, read_scorecard, template_text
from kenko.settings import Settings, read_settings
from kenko.store import Store, open_store

log = logging.getLogger(__name__)

SETTINGS_FILE = "kenko.yaml"


@dataclass
class Workspace:
    """An opened workspace."""

    root: Path
    settings: Settings

    @property
    def scorecard_path(self) -> Path:
        return self.resolve(self.settings.scorecard)

    def resolve(self, name: str | Path) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.root / path

    def read_scorecard(self, path: Path | None = None) -> ScorecardFile:
        return read_scorecard(path or self.scorecard_path)

    def open_store(self) -> Store:
        return open_store(self.settings.store, self.root)

    def data_paths(self) -> list[Path]:
        """The files named by the `data` setting, globs expanded, in order.

        Without a `data` setting: the workspace's files whose names match an
        entity's `files:` patterns.
        """
        if not self.settings.data:
            return sorted(
                p
                for p in self.root.iterdir()
                if p.is_file() and self.settings.entity_for(p) is not None
            )
        out: list[Path] = []
        for pattern in self.settings.data:
            path = self.resolve(pattern).resolve()
            matches = (
                sorted(path.parent.glob(path.name)) if "*" in path.name else [path]
            )
            out.extend(matches)
        return out


def find_workspace(
    explicit: Path | None = None, start: Path | None = None
) -> Workspace:
    """The workspace at ``explicit``, else the nearest folder up with kenko.yaml."""
    if explicit is not None:
        if not (explicit / SETTINGS_FILE).is_file():
            raise WorkspaceError(
                f"no {SETTINGS_FILE} in {explicit}",
                fix=f"run `kenko init {explicit}` first, or use another --workspace",
            )
        return open_workspace(explicit)
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / SETTINGS_FILE).is_file():
            return open_workspace(folder)
    raise WorkspaceError(
        f"no {SETTINGS_FILE} in {here} or any folder above it",
        fix="run `kenko init` to create a workspace here, or pass --workspace DIR",
    )


def open_workspace(root: Path) -> Workspace:
    root = root.resolve()
    return Workspace(root, read_settings(root / SETTINGS_FILE))


def init_workspace(root: Path) -> Workspace:
    """Create a workspace: a commented kenko.yaml and a DEAR scorecard.yaml."""
    target = root / SETTINGS_FILE
    if target.exists():
        raise WorkspaceError(
            f"{target} already exists",
            fix="edit it, or choose another folder for a new workspace",
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        target.write_text(settings_template(), encoding="utf-8")
        scorecard = root / "scorecard.yaml"
        if not scorecard.exists():
            scorecard.write_text(template_text(), encoding="utf-8")
        playbooks = root / Settings().playbooks
        if not playbooks.exists():
            from kenko.playbooks.template import playbooks_template

            playbooks.write_text(playbooks_template(), encoding="utf-8")
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create a workspace in {root}: {exc.strerror}"
        ) from exc
    log.info("workspace created in %s", root)
    return open_workspace(root)


def settings_template() -> str:
    """kenko.yaml with every setting, its default and its help text as comments."""
    lines = [
        "# kenko workspace settings. Every key is optional; the values shown are the",
        "# defaults. Paths are relative to this folder.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        lines.extend(_comment(field.description or ""))
        lines.extend(_setting_lines(name, getattr(Settings(), name), ""))
        lines.append("")
    return "\n".join(lines)


def _setting_lines(name: str, value: Any, indent: str) -> list[str]:
    """``name: value``; a settings group becomes a block of its own commented keys."""
    if not isinstance(value, BaseModel):
        return [f"{indent}{name}: {_yaml_value(value)}"]
    out = [f"{indent}{name}:"]
    for key, field in type(value).model_fields.items():
        out.extend(f"{indent}  {c}" for c in _comment(field.description or ""))
        out.extend(
            _setting_lines(field.alias or key, getattr(value, key), indent + "  ")
        )
    return out


def _comment(text: str) -> list[str]:
    words, lines, line = text.split(), [], "#"
    for word in words:
        if len(line) + len(word) + 1 > 86:
            lines.append(line)
            line = "#"
        line += " " + word
    if line != "#":
        lines.append(line)
    return lines


def _yaml_value(value: Any) -> str:
    import json

    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        value = {
            k: v.model_dump(exclude_defaults=False) if isinstance(v, BaseModel) else v
            for k, v in value.items()
        }
    if value is None:
        return "null"
    return json.dumps(value)
