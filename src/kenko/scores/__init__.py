"""Scores: measures → points → group scores → score, band, status and reasons."""

from kenko.scores.results import AccountScore, MeasureResult, Reason, ScoreRun
from kenko.scores.score import score_accounts
from kenko.scores.snapshots import read_history, read_snapshots, save_snapshots

__all__ = [
    "AccountScore",
    "MeasureResult",
    "Reason",
    "ScoreRun",
    "read_history",
    "read_snapshots",
    "save_snapshots",
    "score_accounts",
]
