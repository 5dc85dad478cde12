"""The ``kenko.yaml`` and ``scorecard.yaml`` written beside the demo company's files."""

from __future__ import annotations

SETTINGS_YAML = """\
# kenko workspace settings for the demo company (written by `kenko demo`).
store: kenko.duckdb
scorecard: scorecard.yaml
data: [accounts.csv, subscriptions.csv, events.csv.gz]
timezone: UTC
future_tolerance: 1d
seat_units: [seats]

accounts:
  files: [accounts.csv]
  # name, owner, seats and timezone map onto kenko's fields of the same name; the
  # rest are segment attributes. Segment, industry and region never change.
  attributes: [segment, industry, region]
  static_attributes: [segment, industry, region]

subscriptions:
  # One row per billing period of the plan (renewed on its end date) and one open
  # row per add-on. price is per unit and billing term; end_date is exclusive.
  files: [subscriptions.csv]

events:
  files: [events*.csv.gz]
  columns:
    type: event_type
  value_rules:
    nps: {required: true, integer: true, min: 0, max: 10}
    ticket: {required: true, integer: true, min: 1, max: 3}
"""

SCORECARD_YAML = """\
# The demo company's health scorecard: DEAR (Deployment, Engagement, Adoption, ROI).
# A high score means likely to renew. Anchors were set from the spread of values
# across the demo's accounts (as of 2025-01-01, seed 7): the median account earns
# about two thirds of a measure's points, the healthiest quarter full points.
name: demo-dear
purpose: >-
  Pick out accounts likely to churn at renewal; a high score means likely to renew.
outcome:
  churn: The plan ends (cancelled or payment failed) and nothing follows.
  renewal: The plan reaches its renewal date and a new period starts.
eligibility:
  min_tenure: 30d
  min_coverage: 0.5
bands:
  - {name: red, below: 40, color: "#d62728"}
  - {name: yellow, below: 70, color: "#f2b701"}
  - {name: green, color: "#2ca02c"}
top_reasons: 3

groups:
  - name: Deployment
    weight: 25
    measures:
      - name: active_users_28d
        description: Users who did anything in the last 28 days.
        events: ["*"]
        aggregation: distinct_users
        window: 28d
        weight: 0  # shown, and used by seat_use, but not scored itself
        scoring:
          percentile: {within: segment}
        missing: zero
      - name: seat_use
        description: Share of licensed seats in use (seats come from the plan).
        formula: active_users_28d / seats
        weight: 2
        scoring:
          linear: {zero_at: 0.2, full_at: 0.8}
      - name: integration_syncs_28d
        description: Syncs from connected integrations; more means more embedded.
        events: [integration_sync]
        aggregation: count
        window: 28d
        weight: 1
        scoring:
          thresholds:
            - {min: 12, points: 100}
            - {min: 6, points: 70}
            - {min: 1, points: 40}
            - {points: 0}
        missing: zero

  - name: Engagement
    weight: 25
    measures:
      - name: meetings_90d
        description: Meetings with the CSM in the last 90 days.
        events: [meeting]
        aggregation: count
        window: 90d
        weight: 2
        scoring:
          thresholds:
            - {min: 3, points: 100}
            - {min: 2, points: 80}
            - {min: 1, points: 50}
            - {points: 0}
        missing: zero
      - name: exec_meetings_180d
        description: Meetings with the customer's executives in the last 180 days.
        events: [exec_meeting]
        aggregation: count
        window: 180d
        weight: 1
        scoring:
          boolean: {true_points: 100, false_points: 30}
        missing: zero
      - name: nps_last
        description: The latest NPS answer from any user of the account.
        events: [nps]
        aggregation: last_value
        window: 365d
        weight: 1
        scoring:
          linear: {zero_at: 4, full_at: 9}
        missing: neutral
      - name: nps_score
        description: NPS of the account's answers over a year (-100..100).
        events: [nps]
        aggregation: nps
        window: 365d
        weight: 1
        scoring:
          linear: {zero_at: -60, full_at: 40}
        missing: neutral
      - name: ticket_severity_90d
        description: Support tickets weighted by severity (1-3); fewer is better.
        events: [ticket]
        aggregation: sum
        window: 90d
        normalise: per_seat
        weight: 1
        scoring:
          linear: {zero_at: 0.6, full_at: 0.0}
        missing: zero

  - name: Adoption
    weight: 30
    measures:
      - name: weekly_logins
        description: Median weekly logins per seat over the last 12 weeks.
        events: [login]
        aggregation: count
        window: 12w
        per_period: {period: 1w, statistic: median}
        normalise: per_seat
        weight: 2
        scoring:
          linear: {zero_at: 0.1, full_at: 0.8}
        missing: zero
      - name: feature_users_28d
        description: Share of active users using advanced features (dashboards,
          alerts, exports), the breadth of adoption.
        events: [dashboard_created, alert_created, export]
        aggregation: distinct_users
        window: 28d
        normalise: per_active_user
        weight: 1
        scoring:
          linear: {zero_at: 0.2, full_at: 0.8}
        missing: zero
      - name: days_since_last_login
        description: Days since anyone last logged in (capped at the window).
        events: [login]
        aggregation: days_since_last
        window: 90d
        weight: 1
        scoring:
          linear: {zero_at: 30, full_at: 2}

  - name: ROI
    weight: 20
    measures:
      - name: reports_viewed_28d
        description: Reports viewed per active user; the value users take out.
        events: [report_viewed]
        aggregation: count
        window: 28d
        normalise: per_active_user
        weight: 1
        scoring:
          linear: {zero_at: 0.5, full_at: 3.0}
        missing: zero
      - name: exports_28d
        description: Exports per seat; data taken into the customer's own work.
        events: [export]
        aggregation: count
        window: 28d
        normalise: per_seat
        weight: 1
        scoring:
          linear: {zero_at: 0.0, full_at: 0.6}
        missing: zero
"""
