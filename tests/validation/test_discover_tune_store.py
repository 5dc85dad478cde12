"""Discovery and tuning end to end on a small company built straight into the store.

Sixty accounts start on 2023-01-01; twenty of them churn, account i of those on
2023-04-15 + 9 i days. Churners log in less as their end nears and, the planted
leak, send a ``cancel_request`` every day of the 90 days before it. Healthy accounts
log in every other day with three users. Monthly as-of dates 2023-03-01 .. 2023-08-01,
churn within 90 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

import factories as f
from kenko.cli.main import cli
from kenko.scorecard import parse_scorecard
from kenko.settings import Settings
from kenko.store import Store, open_store, schema
from kenko.validation.backtest import as_of_dates
from kenko.validation.discover import discover, stamped_after_known
from kenko.validation.replay import replay
from kenko.validation.tune import TuneError, scores_with, tune

START = date(2023, 1, 1)
DATES = as_of_dates(date(2023, 3, 1), date(2023, 8, 1), "1mo")
HORIZON = "90d"
SETTINGS = Settings.model_validate({"validation": {"data_end": "2024-06-01"}})
CHURN = {f"a{i:02d}": date(2023, 4, 15) + timedelta(days=9 * i) for i in range(20)}
ACCOUNTS = [f"a{i:02d}" for i in range(60)]

SCORECARD = """\
# A hand-made scorecard: tune keeps this comment.
name: small
groups:
  - name: Adoption
    weight: 10
    measures:
      - name: logins_28d
        events: [login]
        scoring:
          linear: {zero_at: 0, full_at: 40}
        missing: zero
  - name: ROI
    weight: 90  # most of the score on MRR, which says nothing here
    measures:
      - name: mrr
        subscription: mrr
        scoring:
          linear: {zero_at: 0, full_at: 200}
"""


def build_company(store: Store) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i, a in enumerate(ACCOUNTS):
        end = CHURN.get(a)
        f.account(store, a, start=START, end=end, mrr=float(50 + (i * 37) % 150))
        last = end or date(2023, 12, 31)
        day = START
        while day < last:
            left = (last - day).days if end else 365
            # Churners fade: the chance of a login day falls as the end nears.
            if rng.uniform() < (0.5 if end is None else min(0.5, left / 400)):
                for u in range(3 if end is None else 1):
                    rows.append(
                        (a, f"u{u}", "login", datetime(day.year, day.month, day.day, 9))
                    )
            if end is not None and left <= 90:
                rows.append(
                    (
                        a,
                        "u0",
                        "cancel_request",
                        datetime(day.year, day.month, day.day, 12),
                    )
                )
            day += timedelta(days=1)
    f.events(store, rows)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store("kenko.duckdb", tmp_path_factory.mktemp("company"))
    build_company(store)
    yield store
    store.close()


def _expected_labels() -> tuple[int, int]:
    """(account-dates active on their date, of them churned within 90 days)."""
    active = churned = 0
    for d in DATES:
        for a in ACCOUNTS:
            end = CHURN.get(a)
            if end is None or end > d:
                active += 1
                churned += end is not None and end <= d + timedelta(days=90)
    return active, churned


def test_discover__ranks_the_planted_leak_first_and_flags_it(company: Store) -> None:
    result = discover(company, SETTINGS, DATES, HORIZON, windows=["7d", "28d"])
    # Active 60+60+58+54+51+47, churned 6+9+10+10+10+7 (by the churn dates above).
    assert (result.rows, result.churned) == _expected_labels() == (330, 52)
    assert result.censored == 0

    # The planted leak, and days to renewal: a churner's line item carries its end
    # date from the first day here, as if the cancellation were booked at signing.
    flagged = {fl.subject for fl in result.flags if fl.probe == "auc_above_0.95"}
    assert {"cancel_request_7d", "cancel_request_28d", "days_to_renewal"} <= flagged
    assert {x.name for x in result.factors[:3]} <= flagged
    assert all("auc_above_0.95" in x.leakage for x in result.factors[:3])

    by_name = {x.name: x for x in result.factors}
    logins = by_name["login_28d"]
    assert logins.direction == "higher_is_better" and logins.auc is not None
    assert logins.auc < 0.3
    assert logins.group == "Adoption"
    # Every account starts on the same day, so tenure is one value per date: the
    # decile cohorts collapse to the dates and its AUC is that of the date alone.
    assert by_name["tenure_days"].missing_share == 0.0
    # Counts and their per-seat twins (no seat counts: always missing) apart.
    assert by_name["login_per_seat_28d"].missing_share == 1.0
    assert by_name["login_per_seat_28d"].auc is None
    # login counts per window rank accounts alike: one cluster.
    cluster = next(c for c in result.clusters if "login_28d" in c)
    assert "login_7d" in cluster or "active_days_28d" in cluster
    assert result.to_dicts()[0]["rank"] == 1


def test_stamped_after_known__flags_events_loaded_before_their_stamp(
    tmp_path: Path,
) -> None:
    store = open_store("kenko.duckdb", tmp_path)
    f.account(store, "x", start=START)
    with store.begin() as conn:
        conn.execute(
            schema.loads.insert().values(
                load_id="early",
                file="planned.csv",
                entity="events",
                sha256="0" * 64,
                rows_read=2,
                accepted=2,
                rejected=0,
                duplicates=0,
                loaded_at=datetime(2023, 2, 1),
            )
        )
    # Loaded 2023-02-01: a renewal_call stamped 2023-05-10 and a login 2023-01-20.
    f.insert(
        store,
        "events",
        [
            {
                "account_id": "x",
                "event_type": "renewal_call",
                "ts": datetime(2023, 5, 10),
                "load_id": "early",
            },
            {
                "account_id": "x",
                "event_type": "login",
                "ts": datetime(2023, 1, 20),
                "load_id": "early",
            },
        ],
    )
    # 01-01: nothing loaded yet; 03-01 and 04-01: the call is ahead of the date (two
    # finds); 06-01: it is past. The login is never ahead.
    dates = [date(2023, 1, 1), date(2023, 3, 1), date(2023, 4, 1), date(2023, 6, 1)]
    assert stamped_after_known(store, dates) == {"renewal_call": 2}
    store.close()


def test_tune__fits_weights_writes_a_draft_and_backtests_both(company: Store) -> None:
    current = parse_scorecard(SCORECARD)
    result = tune(company, current, SETTINGS, DATES, HORIZON)

    assert (result.rows, result.churned) == _expected_labels()
    # Logins carry the signal, MRR (assigned by id) nothing: the fit moves the
    # score onto logins.
    assert result.share["logins_28d"] > 0.8
    assert result.group_weights["Adoption"] > result.group_weights["ROI"]
    assert sum(result.group_weights.values()) == pytest.approx(100, abs=0.1)
    draft = result.draft.scorecard
    assert [g.weight for g in draft.groups] == [
        result.group_weights["Adoption"],
        result.group_weights["ROI"],
    ]
    assert draft.bands[0].below == result.red.below
    assert result.kept_comments
    assert "# A hand-made scorecard: tune keeps this comment." in result.draft.text
    assert "# most of the score on MRR" in result.draft.text
    assert "-    weight: 10\n" in result.diff
    changes = {(c.what, c.name): c for c in result.changes}
    assert changes[("group", "ROI")].current == 90
    assert changes[("group", "ROI")].share_current == 0.9

    # Cross-validated: the draft beats the current weights on later dates.
    assert result.cv_auc_draft is not None and result.cv_auc_current is not None
    assert result.cv_auc_draft > result.cv_auc_current
    # The backtest of both, on the same dates and accounts.
    bt = result.backtest
    assert bt is not None and bt.compare is not None and bt.paired is not None
    assert bt.overall.auc > bt.compare.overall.auc
    assert bt.paired.difference == pytest.approx(
        bt.overall.auc - bt.compare.overall.auc, abs=1e-9
    )


def test_scores_with__gives_the_scores_replay_gives(company: Store) -> None:
    sc = parse_scorecard(SCORECARD).scorecard
    rows = replay(company, sc, DATES, SETTINGS)
    groups = {g.name: g.weight for g in sc.groups}
    measures = {m.name: m.weight for g in sc.groups for m in g.measures}
    mine = scores_with(rows, sc.groups, groups, measures)
    scored = rows["status"].to_numpy() == "scored"
    assert np.array_equal(mine[scored], rows["score"].to_numpy(dtype=float)[scored])


def test_cli__discover_and_tune_leave_the_live_scorecard_until_apply(
    tmp_path: Path,
) -> None:
    (tmp_path / "kenko.yaml").write_text(
        yaml.safe_dump({"validation": {"data_end": "2024-06-01"}})
    )
    (tmp_path / "scorecard.yaml").write_text(SCORECARD)
    store = open_store("kenko.duckdb", tmp_path)
    build_company(store)
    store.close()
    period = ["--from", "2023-03-01", "--to", "2023-08-01", "--horizon", "90d"]
    runner = CliRunner()

    out = runner.invoke(
        cli, ["-w", str(tmp_path), "discover", *period, "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    payload = yaml.safe_load(out.output)[0]
    assert (payload["rows"], payload["churned"]) == (330, 52)
    assert payload["factors"][0]["leakage"][0] == "auc_above_0.95"
    out = runner.invoke(
        cli, ["-w", str(tmp_path), "discover", *period, "--format", "csv"]
    )
    assert out.exit_code == 0, out.output
    assert out.output.startswith("rank,measure,description,group,source,auc,")
    assert len(out.output.splitlines()) == 1 + len(payload["factors"])

    out = runner.invoke(cli, ["-w", str(tmp_path), "tune", *period, "--capture", "0.5"])
    assert out.exit_code == 0, out.output
    assert "Wrote the draft to" in out.output
    draft = tmp_path / "scorecard.draft.yaml"
    assert draft.is_file()
    assert (tmp_path / "scorecard.yaml").read_text() == SCORECARD

    out = runner.invoke(
        cli, ["-w", str(tmp_path), "tune", *period, "--apply", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    applied = (tmp_path / "scorecard.yaml").read_text()
    assert applied != SCORECARD
    assert applied.startswith("# Draft from `kenko tune`")
    summary = yaml.safe_load(out.output)[0]
    assert summary["red_rule"] == "youden"
    assert summary["backtest_auc_draft"] > summary["backtest_auc_current"]
    with open_store("kenko.duckdb", tmp_path) as s:
        n = s.fetch(sa.select(sa.func.count()).select_from(schema.events))
    assert n[0]["count_1"] > 0


def test_tune__refuses_dates_without_churn(tmp_path: Path) -> None:
    store = open_store("kenko.duckdb", tmp_path)
    for a in ("x", "y"):
        f.account(store, a, start=START)
    with pytest.raises(
        TuneError, match=r"^4 labelled account-dates, 0 of them churned"
    ):
        tune(store, parse_scorecard(SCORECARD), SETTINGS, DATES[:2], HORIZON)
    store.close()
