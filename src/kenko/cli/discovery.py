"""`kenko discover` and `kenko tune`: what goes with churn, then fitted weights."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import click

from kenko.cli.main import (
    DATE,
    DURATION,
    check_range,
    cli,
    err_console,
    progress_bar,
    workspace_from,
)
from kenko.cli.output import format_option, render
from kenko.durations import Duration, add_months
from kenko.store import Store

_PERIOD = [
    click.option(
        "--from",
        "start",
        type=DATE,
        help="First as-of date (default: a year before --to).",
    ),
    click.option(
        "--to",
        "end",
        type=DATE,
        help="Last as-of date (default: the end of the data minus the horizon).",
    ),
    click.option(
        "--every",
        type=DURATION,
        default="1mo",
        show_default=True,
        help="Step: 1w, 1mo...",
    ),
    click.option(
        "--horizon",
        type=DURATION,
        default="180d",
        show_default=True,
        help="Churn within this long after each as-of date.",
    ),
]


def period_options(command: Any) -> Any:
    for option in reversed(_PERIOD):
        command = option(command)
    return command


def default_range(
    store: Store,
    settings: Any,
    start: date | None,
    end: date | None,
    horizon: Duration,
) -> tuple[date, date]:
    """--from and --to with the defaults filled: --to is the end of the data minus
    the horizon, --from a year before --to."""
    from kenko.validation.outcomes import data_end

    if end is not None:
        last = end
    else:
        before = horizon.before(data_end(store, settings))
        assert isinstance(before, date)
        last = before
    first = start if start is not None else add_months(last, -12)
    assert isinstance(first, date)
    check_range(first, last)
    return first, last


def observation_dates(
    store: Store,
    settings: Any,
    start: date | None,
    end: date | None,
    every: Duration,
    horizon: Duration,
) -> list[date]:
    """The as-of dates from --from to --to every --every, with the defaults filled."""
    from kenko.validation.backtest import as_of_dates

    first, last = default_range(store, settings, start, end, horizon)
    return as_of_dates(first, last, str(every))


@cli.command()
@period_options
@click.option(
    "--top",
    default=30,
    show_default=True,
    help="Factors shown in the table (json and csv hold them all).",
)
@format_option
@click.pass_context
def discover(
    ctx: click.Context,
    start: date | None,
    end: date | None,
    every: Duration,
    horizon: Duration,
    top: int,
    fmt: str,
) -> None:
    """Rank candidate measures by how well each alone separates churners."""
    from kenko.validation.discover import discover as run_discover

    ws = workspace_from(ctx)
    with ws.open_store() as store, progress_bar("Discovering") as progress:
        dates = observation_dates(store, ws.settings, start, end, every, horizon)
        progress("measures", 0, 1)
        result = run_discover(store, ws.settings, dates, horizon)
    rows = result.to_dicts()
    if fmt == "json":
        render(
            [
                {
                    "dates": result.dates,
                    "horizon": result.horizon,
                    "rows": result.rows,
                    "churned": result.churned,
                    "censored": result.censored,
                    "factors": rows,
                    "clusters": result.clusters,
                    "leakage": [asdict(f) for f in result.flags],
                    "warnings": result.warnings,
                }
            ],
            fmt,
        )
        return
    if fmt == "csv":
        for r in rows:
            r["deciles"] = " ".join(f"{d['churn_rate']:.3f}" for d in r["deciles"])
            r["leakage"] = " ".join(r["leakage"])
        render(rows, fmt)
        return
    title = (
        f"{len(result.factors)} candidates on {len(dates)} dates {dates[0]} .. "
        f"{dates[-1]}: {result.rows} account-dates, {result.churned} churn within "
        f"{result.horizon} ({result.censored} censored)"
    )
    render([_table_row(r) for r in rows[:top]], "table", title=title)
    for flag in result.flags:
        err_console.print(
            f"[red]Leakage?[/] {flag.subject}: {flag.detail}", highlight=False
        )
    for warning in result.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)


def _table_row(r: dict[str, Any]) -> dict[str, Any]:
    deciles = r["deciles"]
    return {
        "rank": r["rank"],
        "measure": r["measure"],
        "group": r["group"],
        "AUC": r["auc"],
        "health": r["direction"].replace("_", " "),
        "missing": r["missing_share"],
        "churn 1st / 10th decile": (
            f"{deciles[0]['churn_rate']:.3f} / {deciles[-1]['churn_rate']:.3f}"
            if deciles
            else None
        ),
        "duplicate of": r["duplicate_of"],
        "leakage": ", ".join(r["leakage"]) or None,
    }


@cli.command()
@period_options
@click.option(
    "--scorecard",
    "scorecard_file",
    type=click.Path(dir_okay=False),
    help="Tune this scorecard instead of the workspace's.",
)
@click.option(
    "--capture",
    type=click.FloatRange(0, 1, min_open=True),
    help="Red threshold catching this share of churners (default: best Youden's J).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="Where the draft goes (default: <scorecard>.draft.yaml beside it).",
)
@click.option(
    "--apply", is_flag=True, help="Also replace the live scorecard with the draft."
)
@click.option("--diff/--no-diff", default=True, help="Show the diff of the files.")
@format_option
@click.pass_context
def tune(
    ctx: click.Context,
    start: date | None,
    end: date | None,
    every: Duration,
    horizon: Duration,
    scorecard_file: str | None,
    capture: float | None,
    output: str | None,
    apply: bool,
    diff: bool,
    fmt: str,
) -> None:
    """Fit weights and the red threshold; write a draft scorecard and backtest both."""
    from kenko.validation.tune import tune as run_tune

    ws = workspace_from(ctx)
    live = Path(scorecard_file) if scorecard_file else ws.scorecard_path
    current = ws.read_scorecard(live)
    with ws.open_store() as store, progress_bar("Tuning") as progress:
        dates = observation_dates(store, ws.settings, start, end, every, horizon)
        progress("fit", 0, 1)
        result = run_tune(
            store,
            current,
            ws.settings,
            dates,
            horizon,
            target_capture=capture,
            every=str(every),
        )

    # The draft file, and the live one only when asked.
    target = Path(output) if output else live.with_suffix(".draft.yaml")
    target.write_text(result.draft.text, encoding="utf-8")
    if apply:
        live.write_text(result.draft.text, encoding="utf-8")

    summary = tune_summary(result)
    if fmt == "json":
        summary["changes"] = [c.to_dict() for c in result.changes]
        summary["diff"] = result.diff
        summary["warnings"] = result.warnings
        render([summary], fmt)
        return
    if fmt == "csv":
        render([c.to_dict() for c in result.changes], fmt)
        return
    render(
        [c.to_dict() for c in result.changes],
        "table",
        title=f"Draft weights ({result.rows} account-dates, {result.churned} churned)",
    )
    render(
        [{"figure": k, "value": v} for k, v in summary.items() if k != "cv"],
        "table",
        title="Fit and backtest",
    )
    if diff and result.diff:
        click.echo(result.diff)
    click.echo(f"Wrote the draft to {target}")
    if apply:
        click.echo(f"Applied: {live} now holds the draft")
    else:
        click.echo(f"The live scorecard {live} is unchanged; --apply replaces it")
    for warning in result.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)


def tune_summary(result: Any) -> dict[str, Any]:
    """The headline figures of a tune: penalty, CV AUCs, threshold, backtest AUCs."""
    out: dict[str, Any] = {
        "dates": f"{result.dates[0]} .. {result.dates[-1]} ({len(result.dates)})",
        "horizon": result.horizon,
        "penalty": result.penalty,
        "cv_auc_model": result.cv_auc,
        "cv_auc_draft": result.cv_auc_draft,
        "cv_auc_current": result.cv_auc_current,
        "red_below": result.red.below,
        "red_rule": result.red.rule,
        "red_capture": round(result.red.capture, 4),
        "red_false_alarm": round(result.red.false_alarm, 4),
        "kept_comments": result.kept_comments,
        "cv": [asdict(s) for s in result.cv],
    }
    bt = result.backtest
    if bt is not None:
        out["backtest_auc_draft"] = bt.overall.auc
        out["backtest_auc_current"] = bt.compare.overall.auc if bt.compare else None
        if bt.paired is not None:
            out["auc_difference"] = bt.paired.difference
            out["auc_difference_interval"] = (
                f"{bt.paired.low:.3f} .. {bt.paired.high:.3f}"
            )
    return out
