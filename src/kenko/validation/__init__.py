"""Validation: outcomes, KPIs, backtests and calibration of a scorecard on history."""
