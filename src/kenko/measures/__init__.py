"""Measures: every measure for every active account as of a date, in one pass."""

from kenko.measures.check import check_scorecard_semantics
from kenko.measures.compute import MeasureFrame, compute_measures

__all__ = ["MeasureFrame", "check_scorecard_semantics", "compute_measures"]
