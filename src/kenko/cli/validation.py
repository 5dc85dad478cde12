"""`kenko backtest`, `kenko calibrate` and `kenko monitor`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, cast

import click

from kenko.cli.main import cli, err_console, parse_date, workspace_from
from kenko.cli.output import format_option, render
from kenko.warnings import KenkoWarning


def _range_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--from", "start", required=True, help="First as-of date."),
            click.option("--to", "end", required=True, help="Last as-of date."),
            click.option("--every", default="1mo", show_default=True, help="1w, 1mo…"),
            click.option("--horizon", default="180d", show_default=True),
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
    start: str,
    end: str,
    every: str,
    horizon: str,
    scorecard_file: str | None,
    compare_file: str | None,
    html_file: str | None,
    fmt: str,
) -> None:
    """Replay the scorecard on past dates and check that red accounts churned."""
    from kenko.validation.backtest import backtest as run_backtest
    from kenko.validation.report import write_html

    ws = workspace_from(ctx)
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    other = ws.read_scorecard(Path(compare_file)) if compare_file else None
    with ws.open_store() as store:
        result, caught = _caught(
            lambda: run_backtest(
                store,
                sc.scorecard,
                ws.settings,
                parse_date(start),
                parse_date(end),
                every,
                horizon,
                other.scorecard if other else None,
                version=sc.version,
            )
        )
    if html_file:
        write_html(result, html_file)
        err_console.print(f"Wrote {html_file}", highlight=False)
    for text in caught:
        err_console.print(f"[yellow]Warning:[/] {text}", highlight=False)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    results = [result] + ([result.compare] if result.compare else [])
    rows = [{"scorecard": r.scorecard, **r.overall.to_dict()} for r in results]
    render(rows, fmt, title=f"Backtest, {len(result.dates)} dates, {horizon}")
    if fmt == "table":
        render(result.to_dict()["bands"], "table", title="Churn by band")
        if result.paired is not None:
            render([result.paired.to_dict()], "table", title="Paired AUC difference")


@cli.command()
@_range_options
@click.option(
    "--method",
    type=click.Choice(["isotonic", "logistic"]),
    default="isotonic",
    show_default=True,
)
@click.pass_context
def calibrate(
    ctx: click.Context,
    start: str,
    end: str,
    every: str,
    horizon: str,
    scorecard_file: str | None,
    method: str,
) -> None:
    """Fit score → renewal probability on past dates; `kenko score` then shows it."""
    from kenko.validation.calibrate import Method, calibrate, save_calibration

    ws = workspace_from(ctx)
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    with ws.open_store() as store:
        cal, caught = _caught(
            lambda: calibrate(
                store,
                sc.scorecard,
                ws.settings,
                parse_date(start),
                parse_date(end),
                every=every,
                horizon=horizon,
                method=cast(Method, method),
                version=sc.version,
            )
        )
        save_calibration(store, cal)
    for text in caught:
        err_console.print(f"[yellow]Warning:[/] {text}", highlight=False)
    click.echo(
        f"Calibrated version {sc.version[:12]} ({method}, horizon {cal.horizon}) on "
        f"{cal.rows} account-dates {cal.fit_from} … {cal.fit_to}"
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
            err_console.print(
                f"{len(result.waiting)} cohorts wait for their outcomes",
                highlight=False,
            )
        if result.drift:
            err_console.print(
                "[red]Drift:[/] some bands no longer hold", highlight=False
            )
