"""The demo company: deterministic, valid for kenko, churn that follows usage."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kenko.demo import DemoFiles, generate
from kenko.scorecard.model import Scorecard
from kenko.settings import Settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def subscriptions(demo: DemoFiles) -> pd.DataFrame:
    return pd.read_csv(
        demo.subscriptions,
        dtype={"end_reason": str, "units": str},
        keep_default_na=False,
        parse_dates=["start_date"],
    )


@pytest.fixture(scope="module")
def events(demo: DemoFiles) -> pd.DataFrame:
    frame = pd.read_csv(demo.events, dtype={"user_id": str}, keep_default_na=False)
    frame["ts"] = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
    return frame


def test_generate__same_seed_writes_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", seed=3, accounts=40, months=6)
    second = generate(tmp_path / "b", seed=3, accounts=40, months=6)
    other = generate(tmp_path / "c", seed=4, accounts=40, months=6)
    for a, b, c in zip(first.data, second.data, other.data, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        assert a.read_bytes() != c.read_bytes(), a.name


def test_generate__settings_and_scorecard_validate(demo: DemoFiles) -> None:
    settings = Settings.model_validate(yaml.safe_load(demo.settings.read_text()))
    scorecard = Scorecard.model_validate(yaml.safe_load(demo.scorecard.read_text()))

    assert settings.data == ["accounts.csv", "subscriptions.csv", "events.csv.gz"]
    assert [settings.entity_for(p) for p in demo.data] == [
        "accounts",
        "subscriptions",
        "events",
    ]
    assert [g.name for g in scorecard.groups] == [
        "Deployment",
        "Engagement",
        "Adoption",
        "ROI",
    ]
    names = {m.name for g in scorecard.groups for m in g.measures}
    assert {"seat_use", "meetings_90d", "weekly_logins", "nps_last"} <= names


def test_generate__data_spans_months_and_exposes_as_of(tmp_path: Path) -> None:
    files = generate(tmp_path, accounts=20, start=date(2024, 1, 31), months=2)
    assert (files.start, files.end, files.as_of) == (
        date(2024, 1, 31),
        date(2024, 3, 31),
        date(2024, 3, 31),
    )
    by_end = generate(tmp_path / "today", accounts=20, months=3, end=date(2026, 5, 15))
    assert (by_end.start, by_end.as_of) == (date(2026, 2, 15), date(2026, 5, 15))

    stamps = pd.to_datetime(pd.read_csv(by_end.events)["timestamp"], utc=True)
    # Local working hours: at most a day either side of the span in UTC.
    assert stamps.min() >= pd.Timestamp("2026-02-14", tz="UTC")
    assert stamps.max() < pd.Timestamp("2026-05-16", tz="UTC")


def test_generate__default_size_is_a_few_hundred_thousand_events(
    demo: DemoFiles, events: pd.DataFrame
) -> None:
    accounts = pd.read_csv(demo.accounts)
    assert len(accounts) == 300
    assert accounts["account_id"].is_unique
    assert 200_000 <= len(events) <= 800_000
    expected = {"login", "meeting", "exec_meeting", "nps", "ticket", "integration_sync"}
    assert expected <= set(events["event_type"])
    assert events["timestamp"].str.endswith("Z").all()


def test_generate__values_follow_their_rules(events: pd.DataFrame) -> None:
    nps = pd.to_numeric(events.loc[events["event_type"] == "nps", "value"])
    tickets = pd.to_numeric(events.loc[events["event_type"] == "ticket", "value"])
    others = events.loc[~events["event_type"].isin(["nps", "ticket"]), "value"]

    assert nps.between(0, 10).all() and (nps == nps.round()).all()
    assert set(tickets) <= {1, 2, 3}
    assert (others == "").all()


def test_generate__every_line_item_starts_before_it_ends(
    subscriptions: pd.DataFrame,
) -> None:
    ends = pd.to_datetime(subscriptions["end_date"].replace("", None))
    closed = ends.notna()

    assert (subscriptions.loc[closed, "start_date"] < ends[closed]).all()
    assert (
        subscriptions.loc[~closed, "product"]
        .str.endswith(("_addon", "_pack", "_support"))
        .all()
    )
    assert set(subscriptions["billing_term"]) == {"monthly", "quarterly", "annual"}
    assert set(subscriptions["end_reason"]) == {"", "cancelled", "payment_failed"}


def test_generate__plan_periods_follow_each_other_without_gaps(
    subscriptions: pd.DataFrame,
) -> None:
    plans = subscriptions[subscriptions["units"] == "seats"].copy()
    plans["end"] = pd.to_datetime(plans["end_date"])
    for _, periods in plans.groupby("subscription_id"):
        assert (
            periods["start_date"].iloc[1:].to_numpy()
            == periods["end"].iloc[:-1].to_numpy()
        ).all()
        # Only the last period of a plan may carry a reason for ending.
        assert (periods["end_reason"].iloc[:-1] == "").all()

    # Expansion and contraction both happen at renewals.
    change = plans.groupby("subscription_id")["quantity"].agg(["first", "last"])
    assert (change["last"] > change["first"]).sum() > 10
    assert (change["last"] < change["first"]).sum() > 10


def test_generate__churn_rate_is_plausible(subscriptions: pd.DataFrame) -> None:
    last = subscriptions[subscriptions["units"] == "seats"].groupby("account_id").last()
    churned = (last["end_reason"] != "").mean()
    assert 0.1 < churned < 0.5


def test_generate__churned_accounts_used_the_product_less_before_leaving(
    subscriptions: pd.DataFrame, events: pd.DataFrame
) -> None:
    # Logins per seat in the 90 days before each churn, against every account that
    # was still a customer 90 days after that same window.
    plans = subscriptions[subscriptions["units"] == "seats"].copy()
    plans["end"] = pd.to_datetime(plans["end_date"])
    last = plans.groupby("account_id").last()
    churn = last.loc[last["end_reason"] == "cancelled", "end"]
    logins = events[events["event_type"] == "login"]
    seats = last["quantity"]

    churned_rate, retained_rate = [], []
    for account, day in churn.items():
        window = logins[(logins["ts"] >= day - timedelta(90)) & (logins["ts"] < day)]
        per_seat = (
            window.groupby("account_id").size().reindex(seats.index, fill_value=0)
        )
        per_seat = per_seat / seats
        staying = last.index[last["end"] > day + timedelta(90)]
        started = plans.groupby("account_id")["start_date"].min() <= day - timedelta(90)
        peers = staying[started.reindex(staying).to_numpy()]
        churned_rate.append(per_seat[account])
        retained_rate.append(per_seat[peers].median())

    assert len(churned_rate) >= 30
    assert np.median(churned_rate) < 0.8 * np.median(retained_rate)
    assert np.mean(np.array(churned_rate) < np.array(retained_rate)) > 0.65
