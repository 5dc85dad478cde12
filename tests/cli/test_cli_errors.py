"""Bad options and empty results of the validation commands: Error/Fix, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kenko.cli.main import cli

SCORECARD = """\
name: cli-test
eligibility: {min_tenure: 7d, min_coverage: 0.5}
groups:
  - name: Adoption
    weight: 1
    measures:
      - name: logins_28d
        events: [login]
        aggregation: count
        window: 28d
        scoring: {linear: {zero_at: 0, full_at: 4}}
"""
ACCOUNTS = "account_id,name,owner,tier\nA,Acme,ann,enterprise\nB,Beta,bob,smb\n"
SUBSCRIPTIONS = (
    "account_id,product,start_date,end_date,mrr\n"
    "A,pro,2024-01-01,,100\n"
    "B,pro,2024-01-01,,50\n"
)
EVENTS = (
    "account_id,user_id,type,timestamp\n"
    "A,u1,login,2024-02-10T09:00:00Z\n"
    "B,u3,login,2024-02-15T09:00:00Z\n"
)


def invoke(ws: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["-w", str(ws), *args], obj={})
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["init", str(ws)], obj={}).exit_code == 0
    (ws / "scorecard.yaml").write_text(SCORECARD)
    (ws / "accounts.csv").write_text(ACCOUNTS)
    (ws / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    (ws / "events.csv").write_text(EVENTS)
    assert invoke(ws, "load").exit_code == 0
    return ws


RANGE = ("--from", "2024-02-01", "--to", "2024-03-01")


@pytest.mark.parametrize("command", [["backtest"], ["calibrate"], ["kpi"]])
def test_range__ending_before_it_starts_is_a_clear_error(
    workspace: Path, command: list[str]
) -> None:
    result = invoke(workspace, *command, "--from", "2024-12-01", "--to", "2024-01-01")
    assert result.exit_code == 1
    assert "Error: --to 2024-01-01 is before --from 2024-12-01" in result.output
    assert "Fix: give an earlier --from, or a later --to" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kpi", "--from", "2024-01-01", "--to", "2024-1-5"], "--to '2024-1-5'"),
        (["kpi", "--from", "01/01/2024", "--to", "2024-01-05"], "--from '01/01/2024'"),
        (["backtest", "--from", "x", "--to", "2024-01-05"], "--from 'x'"),
        (["calibrate", "--to", "2024-13-01"], "--to '2024-13-01'"),
        (["discover", "--to", "soon"], "--to 'soon'"),
        (["run", "--from", "2024-1-1", "--to", "2024-02-01"], "--from '2024-1-1'"),
    ],
)
def test_date__bad_value_names_its_option(
    workspace: Path, args: list[str], message: str
) -> None:
    result = invoke(workspace, *args)
    assert result.exit_code == 1
    assert f"Error: {message} is not a date\n" in result.output
    assert "Fix: write it as YYYY-MM-DD, e.g. 2024-03-01" in result.output


@pytest.mark.parametrize("value", ["0d", "-1mo", "1x", "xyz"])
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["backtest", *RANGE], "--every"),
        (["backtest", *RANGE], "--horizon"),
        (["calibrate", *RANGE], "--every"),
        (["calibrate"], "--horizon"),
        (["discover"], "--every"),
        (["tune"], "--horizon"),
        (["playbooks", "report"], "--horizon"),
        (["kpi", *RANGE, "--view", "gap"], "--horizon"),
    ],
)
def test_duration__bad_value_names_its_option(
    workspace: Path, command: list[str], option: str, value: str
) -> None:
    result = invoke(workspace, *command, option, value)
    assert result.exit_code == 1
    assert f"Error: {option} {value!r} is not a duration\n" in result.output
    assert "Fix: write a positive number and a unit: 28d" in result.output


def test_calibrate__every_date_censored_is_a_clear_error(workspace: Path) -> None:
    result = invoke(workspace, "calibrate", *RANGE)
    assert result.exit_code == 1
    assert (
        "Error: no scored rows to calibrate on: 2 as-of date(s) gave no scored "
        "account whose outcome is known (every date may be censored)\n"
        "Fix: pick earlier dates, at least the horizon before the end of the data\n"
    ) in result.output


def test_calibrate__defaults_its_range_like_tune(workspace: Path) -> None:
    # Data ends 2024-01-01 here, so --to defaults to 180d before and every date of
    # the year before it has no account: the same clear error, no missing option.
    result = invoke(workspace, "calibrate")
    assert result.exit_code == 1
    assert "Missing option" not in result.output
    assert "Error: no scored rows to calibrate on: 13 as-of date(s)" in result.output


def test_backtest__html_into_a_missing_folder_is_a_clear_error(
    workspace: Path, tmp_path: Path
) -> None:
    target = tmp_path / "nope" / "report.html"
    result = invoke(workspace, "backtest", *RANGE, "--html", str(target))
    assert result.exit_code == 1
    assert f"Error: --html {target}: the folder {target.parent} does not exist" in (
        result.output
    )


def test_backtest__missing_compare_file_names_the_option(workspace: Path) -> None:
    result = invoke(workspace, "backtest", *RANGE, "--compare", "nonexist.yaml")
    assert result.exit_code == 1
    assert "Error: --compare nonexist.yaml: no such scorecard file" in result.output
    assert "scorecard` setting" not in result.output


def test_backtest__nothing_judged_says_why_with_the_counts(workspace: Path) -> None:
    result = invoke(workspace, "backtest", *RANGE)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert (
        "Nothing judged: every outcome is censored: the 180d horizon runs past the "
        "end of the data (2024-01-01) (4 active account-dates, 4 censored, 0 with "
        "insufficient data)."
    ) in text


def test_backtest__each_warning_printed_once_with_compare(workspace: Path) -> None:
    (workspace / "other.yaml").write_text(SCORECARD.replace("cli-test", "other"))
    result = invoke(
        workspace, "backtest", *RANGE, "--compare", str(workspace / "other.yaml")
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 0
    assert text.count("no Brier score or calibration table") == 1


def test_kpi__table_shows_the_headline_columns_and_all_on_request(
    workspace: Path,
) -> None:
    table = invoke(workspace, "kpi", *RANGE).output
    every = invoke(workspace, "kpi", *RANGE, "--columns", "all").output
    csv = invoke(workspace, "kpi", *RANGE, "--format", "csv").output
    assert "logo_churn_rate" in table and "mrr_end" in table
    assert "cohort_mrr_end" not in table and "expansion_rate" not in table
    # One ┳ between each two header cells: 9 columns by default, 26 with all.
    assert (_top(table).count("┳"), _top(every).count("┳")) == (8, 25)
    header = csv.splitlines()[0].split(",")
    assert {"mrr_end", "cohort_mrr_end", "expansion_rate"} <= set(header)


def _top(table: str) -> str:
    return next(line for line in table.splitlines() if "┳" in line)


def test_kpi__by_band_names_accounts_without_a_snapshot(workspace: Path) -> None:
    result = invoke(workspace, "kpi", *RANGE, "--by", "band", "--format", "csv")
    assert result.exit_code == 0
    groups = {line.split(",")[2] for line in result.output.splitlines()[1:]}
    assert groups == {"no snapshot"}


def test_kpi__help_defines_the_kpis(workspace: Path) -> None:
    text = invoke(workspace, "kpi", "--help").output
    assert "logo_churn_rate  churned / (active_start + new)" in text
    assert "mrr_end          at the end, of every account" in text
