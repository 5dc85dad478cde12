"""Discovery's parts on small arrays: candidates, AUC, deciles, clusters, leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kenko.validation.discover import (
    Decile,
    auc_higher_churns,
    candidate_measures,
    correlated_clusters,
    decile_rates,
    factor_table,
    leakage_flags,
    slug,
)


def test_candidates__every_kind_once_with_dear_groups() -> None:
    cands = candidate_measures(["login", "NPS Survey"], valued_types=["deal"])
    names = [c.name for c in cands]
    # 3 keys (all events, login, nps_survey) x 3 windows x 4 kinds + 3 days-since,
    # 3 windows x (active users, seat use, active days), 3 value sums, 5 fields.
    assert len(names) == 3 * 3 * 4 + 3 + 9 + 3 + 5 == len(set(names))
    group = {c.name: c.group for c in cands}
    assert group["login_per_seat_28d"] == "Adoption"
    assert group["nps_survey_change_90d"] == "Engagement"
    assert group["active_users_7d"] == "Deployment"
    assert group["seat_use_28d"] == "Deployment"
    assert group["seats"] == "Deployment"
    assert group["deal_value_28d"] == "ROI"
    assert group["mrr"] == "ROI"
    assert group["tenure_days"] is None
    by_name = {c.name: c.measure for c in cands}
    assert by_name["days_since_last_login"].window == "90d"
    assert by_name["login_per_active_user_7d"].normalise == "per_active_user"
    assert by_name["events_change_28d"].events == ["*"]
    assert by_name["seat_use_90d"].formula == "active_users_90d / seats"


def test_slug__event_types_become_measure_names() -> None:
    assert slug("Add Lead") == "add_lead"
    assert slug("3d-view") == "e_3d_view"
    assert slug("---") == "event"


def test_auc__higher_value_churns_ties_half_nan_left_out() -> None:
    # Churners 2 and 4 against retained 1 and 3: 2>1, 2<3, 4>1, 4>3 -> 3/4.
    y = np.array([0, 1, 0, 1, 1])
    assert auc_higher_churns(np.array([1, 2, 3, 4, np.nan]), y) == 0.75
    # Churner 1 against retained 1 (tie, half) and 2 (below): 0.5 / 2.
    assert auc_higher_churns(np.array([1.0, 1, 2]), np.array([1, 0, 0])) == 0.25
    assert auc_higher_churns(np.array([np.nan, 1.0]), np.array([1, 0])) is None


def test_deciles__cohorts_by_position_and_churn_rates() -> None:
    # 25 values 0..24, churned from 20 up: position p goes to floor(p*10/25) + 1,
    # giving cohorts of 3,2,3,2,... rows.
    values = pd.Series(np.arange(25, dtype=float))
    out = decile_rates(values, values >= 20)
    assert [d.rows for d in out] == [3, 2] * 5
    assert out[8] == Decile(9, 20.0, 22.0, 3, 1.0)
    assert [d.churn_rate for d in out] == [0.0] * 8 + [1.0, 1.0]
    assert decile_rates(pd.Series([np.nan]), pd.Series([True])) == []


def test_deciles__tied_values_share_one_cohort() -> None:
    # Six zeros (two churned) then 1..4: the zeros are cohort 1; value 1 sits at
    # position 6 -> cohort 7, then 8, 9, 10. Cohorts 2..6 stay empty.
    values = pd.Series([0.0] * 6 + [1, 2, 3, 4])
    churned = pd.Series([True, True] + [False] * 7 + [True])
    out = decile_rates(values, churned)
    assert [(d.decile, d.rows) for d in out] == [
        (1, 6),
        (7, 1),
        (8, 1),
        (9, 1),
        (10, 1),
    ]
    assert out[0].churn_rate == round(2 / 6, 6)
    assert out[-1].churn_rate == 1.0


def test_clusters__exact_and_inverse_duplicates_join_others_stay_apart() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=200)
    values = pd.DataFrame(
        {
            "a": a,
            "b": a.copy(),  # exact duplicate
            "c": -2 * a + 1,  # same ranking reversed: |rho| = 1
            "d": rng.normal(size=200),  # unrelated
            "e": np.ones(200),  # constant: no correlation defined
            "f": np.exp(a),  # monotone in a: Spearman 1 though Pearson < 1
        }
    )
    assert correlated_clusters(values) == [["a", "b", "c", "f"], ["d"], ["e"]]


def test_clusters__chain_through_a_shared_neighbour() -> None:
    # x~y and y~z at rho >= 0.8 while x~z is below: single linkage joins all three.
    rng = np.random.default_rng(7)
    y = rng.normal(size=5000)
    x = y + 0.62 * rng.normal(size=5000)
    z = y + 0.62 * rng.normal(size=5000)
    values = pd.DataFrame({"x": x, "y": y, "z": z})
    rho = values.corr(method="spearman")
    assert rho.loc["x", "y"] >= 0.8 and rho.loc["y", "z"] >= 0.8
    assert rho.loc["x", "z"] < 0.8
    assert correlated_clusters(values) == [["x", "y", "z"]]


def test_leakage__auc_probe_fires_on_a_planted_outcome_copy() -> None:
    cands = candidate_measures(["login", "cancel"], windows=["28d"])
    rng = np.random.default_rng(4)
    churned = pd.Series(rng.uniform(size=300) < 0.2)
    values = pd.DataFrame(
        {c.name: rng.poisson(3, size=300).astype(float) for c in cands}
    )
    # The planted leak: cancel events appear (almost) only for churners.
    values["cancel_28d"] = churned.astype(float) * 3 + (rng.uniform(size=300) < 0.01)
    values["login_28d"] = -values["cancel_28d"]  # the leak mirrored, AUC near 0
    factors = factor_table(values, churned, cands)
    flags = leakage_flags(factors, cands, stamped={"cancel": 2})
    fired = {(f.subject, f.probe) for f in flags}
    assert ("cancel_28d", "auc_above_0.95") in fired
    assert ("login_28d", "auc_above_0.95") in fired
    assert ("cancel", "stamped_after_known") in fired
    assert sum(f.probe == "auc_above_0.95" for f in flags) == 2
    by_name = {f.name: f for f in factors}
    assert by_name["cancel_28d"].leakage == ["auc_above_0.95", "stamped_after_known"]
    # Measures over all events read the stamped type too; login measures do not.
    assert "stamped_after_known" in by_name["events_28d"].leakage
    assert by_name["login_per_seat_28d"].leakage == []
    assert factors[0].name in {"cancel_28d", "login_28d"}
    assert by_name["cancel_28d"].direction == "lower_is_better"
    assert by_name["login_28d"].direction == "higher_is_better"
