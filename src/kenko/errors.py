"""Errors kenko raises for bad input, config or state.

Every error names where the problem is (file, row, field or key path), the value
involved and the fix. The CLI turns them into one-paragraph messages with a non-zero
exit; no user ever sees a traceback for bad data or config.
"""

from __future__ import annotations


class KenkoError(Exception):
    """Base of every error kenko raises on purpose.

    ``problems`` lists (where, message) pairs when one file has several problems,
    e.g. ("groups[0].weight (line 7)", "Input should be greater than or equal to 0").
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        fix: str | None = None,
        problems: list[tuple[str, str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.where = where
        self.fix = fix
        self.problems = problems or []

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        parts += [f"  {path}: {msg}" for path, msg in self.problems]
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)


class WorkspaceError(KenkoError, FileNotFoundError):
    """No workspace where one was expected, or a workspace that cannot be created."""


class SettingsError(KenkoError, ValueError):
    """kenko.yaml is invalid."""


class ScorecardError(KenkoError, ValueError):
    """A scorecard YAML is invalid."""


class DataError(KenkoError, ValueError):
    """A source file cannot be read at all (missing column, unreadable, ambiguous)."""


class StoreError(KenkoError, RuntimeError):
    """The store cannot be opened or written."""


class UnknownAccountError(KenkoError, LookupError):
    """An account id that the store does not hold."""
