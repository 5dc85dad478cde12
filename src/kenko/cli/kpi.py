"""`kenko kpi`: churn, renewal, GRR / NRR, MRR movements, cohorts and survival."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import click
import pandas as pd

from kenko.cli.main import cli, parse_date, workspace_from
from kenko.cli.output import format_option, render
from kenko.workspace import Workspace

VIEWS = ("periods", "daily", "mrr", "cohorts", "survival", "gap")


@cli.command()
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    default="periods",
    show_default=True,
    help="periods: rates per period; daily: active/new/churned per day; mrr: MRR "
    "movements per month; cohorts: retention by start month; survival: time to "
    "churn, censored at --to; gap: which measures explain the score gap between "
    "accounts that churned within --horizon of --from and the rest.",
)
@click.option(
    "--period",
    type=click.Choice(["month", "quarter"]),
    default="month",
    show_default=True,
    help="Length of each period.",
)
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD).")
@click.option("--by", help="Group by band or by an account attribute name.")
@click.option("--horizon", default="180d", show_default=True, help="For --view gap.")
@format_option
@click.pass_context
def kpi(
    ctx: click.Context,
    view: str,
    period: str,
    start: str,
    end: str,
    by: str | None,
    horizon: str,
    fmt: str,
) -> None:
    """Logo churn, renewal rate, GRR, NRR, MRR movements, cohorts and time to churn."""
    ws = workspace_from(ctx)
    first, last = parse_date(start), parse_date(end)
    if last < first:
        raise click.UsageError(f"--to {last} is before --from {first}")
    table = _view(ws, view, first, last, period, by, horizon)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    render(
        rows,
        fmt,
        title=f"KPIs: {view}" + (f" per {period}" if view == "periods" else ""),
    )


def _view(
    ws: Workspace,
    view: str,
    first: date,
    last: date,
    period: str,
    by: str | None,
    horizon: str,
) -> pd.DataFrame:
    from kenko.validation import kpi as k

    with ws.open_store() as store:
        if view == "periods":
            return k.period_kpis(
                store, ws.settings, first, last, cast(k.Period, period), by=by
            )
        if view == "daily":
            return k.daily_series(store, first, last)
        if view == "mrr":
            return k.mrr_movements(store, first, last)
        if view == "cohorts":
            return k.cohort_retention(store, first, last, as_of=last)
        if view == "survival":
            return k.time_to_churn(store, last, ws.settings, by=by)
        return _gap(store, ws, first, horizon)


def _gap(store: Any, ws: Workspace, as_of: date, horizon: str) -> pd.DataFrame:
    from kenko.validation.kpi import score_gap
    from kenko.validation.outcomes import label_outcomes

    version = ws.read_scorecard().version
    labels = label_outcomes(store, [as_of], horizon, ws.settings).labels
    churned = labels.loc[labels["churned"], "account_id"].tolist()
    gap = score_gap(store, version, as_of, churned)
    groups = gap.groups.assign(kind="group")
    measures = gap.measures.assign(kind="measure")
    return pd.concat([groups, measures], ignore_index=True)
