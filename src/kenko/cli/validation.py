"""`kenko backtest`, `kenko calibrate` and `kenko monitor`."""

from __future__ import annotations

import json
import warnings
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, cast

import click

from kenko.cli.main import (
    DATE,
    DURATION,
    check_range,
    cli,
    err_console,
    workspace_from,
)
from kenko.cli.output import format_option, render
from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.warnings import KenkoWarning


def _range_options(f: Any, *, required: bool = True) -> Any:
    first = "First as-of date." if required else "First as-of date (default: a year "
    last = "Last as-of date." if required else "Last as-of date (default: the end "
    if not required:
        first += "before --to)."
        last += "of the data minus the horizon)."
    for option in reversed(
        [
            click.option("--from", "start", type=DATE, required=required, help=first),
            click.option("--to", "end", type=DATE, required=required, help=last),
            click.option(
                "--every",
                type=DURATION,
                default="1mo",
                show_default=True,
                help="1w, 1mo…",
            ),
            click.option("--horizon", type=DURATION, default="180d", show_default=True),
            click.option(
                "--scorecard",
                "scorecard_file",
                type=click.Path(dir_okay=False),
                help="Scorecard to judge (default: the workspace's).",
            ),
        ]
    ):
        f = option(f)
    return f


def _caught(run: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    texts = [str(w.message) for w in caught if issubclass(w.category, KenkoWarning)]
    return result, list(dict.fromkeys(texts))


def _scorecard_file(ws: Any, path: str, option: str) -> Any:
    """The scorecard at ``path``, a missing file named by its option."""
    if not Path(path).is_file():
        raise KenkoError(
            f"{option} {path}: no such scorecard file",
            fix=f"give {option} the path of a scorecard YAML file",
        )
    return ws.read_scorecard(Path(path))


def _html_target(path: str) -> Path:
    """Where --html writes; its folder must exist."""
    target = Path(path)
    if not target.parent.is_dir():
        raise KenkoError(
            f"--html {path}: the folder {target.parent} does not exist",
            fix="create the folder first, or write the report elsewhere",
        )
    return target


@cli.command()
@_range_options
@click.option(
    "--compare",
    "compare_file",
    type=click.Path(dir_okay=False),
    help="Another scorecard judged on the same dates and accounts.",
)
@click.option("--html", "html_file", type=click.Path(dir_okay=False))
@format_option
@click.pass_context
def backtest(
    ctx: click.Context,
    start: date,
    end: date,
    every: Duration,
    horizon: Duration,
    scorecard_file: str | None,
    compare_file: str | None,
    html_file: str | None,
    fmt: str,
) -> None:
    """Replay the scorecard on past dates and check that red accounts churned."""
    from kenko.validation.backtest import backtest as run_backtest
    from kenko.validation.report import write_html

    check_range(start, end)
    ws = workspace_from(ctx)
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    other = _scorecard_file(ws, compare_file, "--compare") if compare_file else None
    target = _html_target(html_file) if html_file else None
    with ws.open_store() as store:
        result, caught = _caught(
            lambda: run_backtest(
                store,
                sc.scorecard,
                ws.settings,
                start,
                end,
                str(every),
                str(horizon),
                other.scorecard if other else None,
                version=sc.version,
            )
        )
    if target is not None:
        write_html(result, target)
        err_console.print(f"Wrote {target}", highlight=False)
    for text in caught:
        err_console.print(f"[yellow]Warning:[/] {text}", highlight=False)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    results = [result] + ([result.compare] if result.compare else [])
    rows = [{"scorecard": r.scorecard, **r.overall.to_dict()} for r in results]
    render(rows, fmt, title=f"Backtest, {len(result.dates)} dates, {horizon}")
    if fmt == "table":
        if result.overall.rows == 0:
            err_console.print(_why_nothing_judged(result), highlight=False)
        render(result.to_dict()["bands"], "table", title="Churn by band")
        if result.paired is not None:
            render([_paired_row(result.paired)], "table", title="Paired AUC difference")


def _paired_row(paired: Any) -> dict[str, Any]:
    """The paired difference for a table: a p-value no resample reached as a bound."""
    row = paired.to_dict()
    bound = row.pop("p_value_below")
    if bound is not None:
        row["p_value"] = f"< {bound:.2g}"
    return row


def _why_nothing_judged(result: Any) -> str:
    """Why a backtest judged no account-date, with the counts."""
    counts = (
        f"{result.active} active account-dates, {result.censored} censored, "
        f"{result.insufficient} with insufficient data"
    )
    if result.active == 0:
        why = "no account was active on any as-of date"
    elif result.insufficient == 0 and result.censored > 0:
        why = (
            f"every outcome is censored: the {result.horizon} horizon runs past the "
            f"end of the data ({result.data_end})"
        )
    elif result.insufficient > 0:
        why = "no account had enough data to be scored"
    else:
        why = "no active account has a known outcome"
    return f"[yellow]Nothing judged:[/] {why} ({counts})."


@cli.command()
@partial(_range_options, required=False)
@click.option(
    "--method",
    type=click.Choice(["isotonic", "logistic"]),
    default="isotonic",
    show_default=True,
)
@click.pass_context
def calibrate(
    ctx: click.Context,
    start: date | None,
    end: date | None,
    every: Duration,
    horizon: Duration,
    scorecard_file: str | None,
    method: str,
) -> None:
    """Fit score → renewal probability on past dates; `kenko score` then shows it.

    Without --from / --to it fits on the year before the end of the data minus the
    horizon, as `kenko tune` does.
    """
    from kenko.cli.discovery import default_range
    from kenko.validation.calibrate import (
        Method,
        calibrate,
        read_calibration,
        save_calibration,
    )

    ws = workspace_from(ctx)
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    with ws.open_store() as store:
        first, last = default_range(store, ws.settings, start, end, horizon)
        cal, caught = _caught(
            lambda: calibrate(
                store,
                sc.scorecard,
                ws.settings,
                first,
                last,
                every=str(every),
                horizon=str(horizon),
                method=cast(Method, method),
                version=sc.version,
            )
        )
        previous = read_calibration(store, sc.version)
        save_calibration(store, cal)
    for text in caught:
        err_console.print(f"[yellow]Warning:[/] {text}", highlight=False)
    click.echo(
        f"Calibrated version {sc.version[:12]} ({method}, horizon {cal.horizon}) on "
        f"{cal.rows} account-dates {cal.fit_from} … {cal.fit_to} "
        f"({cal.churned} churned, {cal.rows - cal.churned} renewed)"
    )
    if previous is not None:
        click.echo(
            f"Replaced the fit of {previous.fit_from} … {previous.fit_to} "
            f"({previous.method}, horizon {previous.horizon}, {previous.rows} "
            "account-dates)"
        )


@cli.command()
@click.option("--scorecard", "scorecard_file", type=click.Path(dir_okay=False))
@click.option("--alpha", default=0.01, show_default=True, help="Drift p-value.")
@format_option
@click.pass_context
def monitor(
    ctx: click.Context, scorecard_file: str | None, alpha: float, fmt: str
) -> None:
    """Expected vs actual renewals of every cohort whose outcomes have arrived."""
    from kenko.validation.monitor import monitor as run_monitor

    ws = workspace_from(ctx)
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    with ws.open_store() as store:
        result = run_monitor(store, sc.version, ws.settings, alpha=alpha)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    render(result.to_dict()["cohorts"], fmt, title="Expected vs actual renewals")
    if fmt == "table":
        if result.waiting:
            n = len(result.waiting)
            err_console.print(
                "1 cohort waits for its outcomes"
                if n == 1
                else f"{n} cohorts wait for their outcomes",
                highlight=False,
            )
        if result.drift:
            err_console.print(
                "[red]Drift:[/] some bands no longer hold", highlight=False
            )
