"""Warning classes for degraded-but-continuing results."""

from __future__ import annotations


class KenkoWarning(UserWarning):
    """Base of kenko's warnings."""


class NotPointInTimeWarning(KenkoWarning):
    """A measure's source was known only after the as-of date, so it was left out."""


class EmptyScoreWarning(KenkoWarning):
    """No account was active on the as-of date, so nothing was scored."""


class FewChurnersWarning(KenkoWarning):
    """Too few churned (or renewed) accounts for a validation figure to be trusted."""
