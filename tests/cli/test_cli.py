"""The `kenko` command line, end to end on a real workspace and store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kenko.cli.main import cli

SCORECARD = """\
name: cli-test
eligibility: {min_tenure: 7d, min_coverage: 0.5}
groups:
  - name: Adoption
    weight: 2
    measures:
      - name: logins_28d
        events: [login]
        aggregation: count
        window: 28d
        scoring: {linear: {zero_at: 0, full_at: 4}}
  - name: Engagement
    weight: 1
    measures:
      - name: meetings_28d
        events: [meeting]
        aggregation: count
        window: 28d
        scoring: {boolean: {}}
"""

ACCOUNTS = "account_id,name,owner,tier\nA,Acme,ann,enterprise\nB,Beta,bob,smb\n"
SUBSCRIPTIONS = (
    "account_id,product,start_date,end_date,mrr\n"
    "A,pro,2024-01-01,,100\n"
    "B,pro,2024-01-01,,50\n"
)
# A: 4 logins and a meeting before 2024-03-01 -> 100 points in both groups -> 100.
# B: 1 login, no meeting -> Adoption 25, Engagement 0 -> (2*25 + 1*0) / 3 = 16.7.
EVENTS = (
    "account_id,user_id,type,timestamp\n"
    "A,u1,login,2024-02-10T09:00:00Z\n"
    "A,u1,login,2024-02-11T09:00:00Z\n"
    "A,u2,login,2024-02-12T09:00:00Z\n"
    "A,u2,login,2024-02-29T23:59:59Z\n"
    "A,u9,meeting,2024-02-20T15:00:00Z\n"
    "A,u1,login,2024-03-01T00:00:00Z\n"
    "B,u3,login,2024-02-15T09:00:00Z\n"
)


def run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, obj={}, catch_exceptions=False)


def invoke(ws: Path, *args: str) -> Result:
    result = run(["-w", str(ws), *args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    assert run(["init", str(ws)]).exit_code == 0
    (ws / "scorecard.yaml").write_text(SCORECARD)
    # The events below start on 2024-02-10, inside the 28-day window of 2024-03-01;
    # say the data starts earlier so that window counts as covered.
    settings = (ws / "kenko.yaml").read_text()
    settings = settings.replace("events_start: null", "events_start: 2024-01-01")
    (ws / "kenko.yaml").write_text(settings)
    (ws / "accounts.csv").write_text(ACCOUNTS)
    (ws / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    (ws / "events.csv").write_text(EVENTS)
    return ws


def _files(ws: Path) -> list[str]:
    return [str(ws / n) for n in ("accounts.csv", "subscriptions.csv", "events.csv")]


def test_init__writes_settings_and_scorecard(tmp_path: Path) -> None:
    result = run(["init", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "kenko.yaml",
        "playbooks.yaml",
        "scorecard.yaml",
    ]


def test_init__twice_is_a_clear_error(tmp_path: Path) -> None:
    run(["init", str(tmp_path)])
    result = run(["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_commands__outside_a_workspace_say_how_to_make_one(tmp_path: Path) -> None:
    result = run(["-w", str(tmp_path), "accounts"])
    assert result.exit_code == 1
    assert "kenko init" in result.output


def test_scorecard_check__lists_problems_by_key_path(workspace: Path) -> None:
    bad = SCORECARD.replace(
        "aggregation: count\n        window: 28d\n        scoring: {l",
        "aggregation: countt\n        window: 28 days\n        scoring: {l",
        1,
    )
    (workspace / "scorecard.yaml").write_text(bad)
    result = invoke(workspace, "scorecard", "check")
    assert result.exit_code == 1
    assert "groups[0].measures[0].aggregation (line 9)" in result.output
    assert "groups[0].measures[0].window (line 10)" in result.output
    assert "'28 days' is not a duration" in result.output


def test_scorecard_check__ok_names_the_version(workspace: Path) -> None:
    result = invoke(workspace, "scorecard", "check")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_load_score_explain__end_to_end(workspace: Path) -> None:
    loaded = invoke(workspace, "load", *_files(workspace), "--format", "json")
    assert loaded.exit_code == 0, loaded.output
    counts = {
        Path(r["file"]).name: (r["read"], r["accepted"])
        for r in json.loads(loaded.stdout)
    }
    assert counts == {
        "accounts.csv": (2, 2),
        "subscriptions.csv": (2, 2),
        "events.csv": (7, 7),
    }

    scored = invoke(workspace, "score", "--as-of", "2024-03-01", "--format", "json")
    assert scored.exit_code == 0, scored.output
    rows = {r["account_id"]: r for r in json.loads(scored.stdout)}
    assert rows["A"]["score"] == 100.0
    assert rows["A"]["band"] == "green"
    assert rows["A"]["measures"]["logins_28d"] == {
        **rows["A"]["measures"]["logins_28d"],
        "value": 4.0,
        "points": 100.0,
    }
    assert rows["B"]["score"] == 16.7
    assert rows["B"]["band"] == "red"
    assert rows["B"]["groups"] == {"Adoption": 25.0, "Engagement": 0.0}
    assert [r["measure"] for r in rows["B"]["reasons"]] == [
        "logins_28d",
        "meetings_28d",
    ]
    for key in ("as_of", "status", "coverage", "groups", "measures", "reasons"):
        assert key in rows["B"]

    listed = invoke(workspace, "accounts", "--band", "red", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    table = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [r["account_id"] for r in table] == ["B"]

    by_segment = invoke(
        workspace, "accounts", "--segment", "tier=enterprise", "--format", "json"
    )
    assert [r["account_id"] for r in json.loads(by_segment.stdout)] == ["A"]

    explained = invoke(workspace, "explain", "B")
    assert explained.exit_code == 0, explained.output
    assert "logins_28d" in explained.output

    history = invoke(workspace, "history", "B", "--format", "json")
    assert [h["score"] for h in json.loads(history.stdout)] == [16.7]


def test_score__rerun_same_date_replaces_the_snapshot(workspace: Path) -> None:
    invoke(workspace, "load", *_files(workspace))
    invoke(workspace, "score", "--as-of", "2024-03-01")
    invoke(workspace, "score", "--as-of", "2024-03-01")
    history = invoke(workspace, "history", "A", "--format", "json")
    assert len(json.loads(history.stdout)) == 1


def test_explain__unknown_account_is_a_clear_error(workspace: Path) -> None:
    result = invoke(workspace, "explain", "nope")
    assert result.exit_code == 1
    assert "no account 'nope' in the store" in result.output


def test_score__bad_date_is_a_clear_error(workspace: Path) -> None:
    result = invoke(workspace, "score", "--as-of", "01/03/2024")
    assert result.exit_code == 1
    assert "YYYY-MM-DD" in result.output


def test_load__missing_file_is_a_clear_error(workspace: Path) -> None:
    result = invoke(workspace, "load", "nowhere.csv")
    assert result.exit_code != 0
    assert "nowhere.csv" in result.output


def test_console_script__runs_as_installed() -> None:
    exe = Path(sys.executable).parent / "kenko"
    done = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kenko, version 0.1.0"


def test_demo__shows_at_risk_accounts_with_reasons(tmp_path: Path) -> None:
    result = run(["demo", "--accounts", "80", "--keep", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Most at risk" in result.output
    assert "red" in result.output


def test_score__future_date_is_refused(workspace: Path) -> None:
    result = invoke(workspace, "score", "--as-of", "2999-01-01")
    assert result.exit_code == 1
    assert "in the future" in result.output


def test_load__without_paths_takes_the_workspace_files_by_name(workspace: Path) -> None:
    loaded = invoke(workspace, "load", "--format", "json")
    assert loaded.exit_code == 0, loaded.output
    assert sorted(Path(r["file"]).name for r in json.loads(loaded.stdout)) == [
        "accounts.csv",
        "events.csv",
        "subscriptions.csv",
    ]


def test_demo__workspace_is_ready_for_playbooks(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert run(["demo", "--accounts", "40", "--keep", str(demo)]).exit_code == 0
    result = invoke(demo, "playbooks", "check")
    assert result.exit_code == 0, result.output
