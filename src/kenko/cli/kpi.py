"""`kenko kpi`: churn, renewal, GRR / NRR, MRR movements, cohorts and survival."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import click
import pandas as pd

from kenko.cli.main import DATE, DURATION, check_range, cli, workspace_from
from kenko.cli.output import format_option, render
from kenko.durations import Duration
from kenko.workspace import Workspace

VIEWS = ("periods", "daily", "mrr", "cohorts", "survival", "gap")
# The periods view in a table: the headline figures; --columns all shows the rest.
TABLE_COLUMNS = (
    "period",
    "group",
    "active_start",
    "new",
    "churned",
    "logo_churn_rate",
    "renewal_rate",
    "grr",
    "nrr",
    "mrr_end",
)


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
@click.option(
    "--from", "start", type=DATE, required=True, help="First day (YYYY-MM-DD)."
)
@click.option("--to", "end", type=DATE, required=True, help="Last day (YYYY-MM-DD).")
@click.option("--by", help="Group by band or by an account attribute name.")
@click.option(
    "--horizon",
    type=DURATION,
    default="180d",
    show_default=True,
    help="For --view gap.",
)
@click.option(
    "--columns",
    type=click.Choice(["default", "all"]),
    default="default",
    show_default=True,
    help="Table columns of --view periods: the headline ones, or all of them "
    "(json and csv always hold all).",
)
@format_option
@click.pass_context
def kpi(
    ctx: click.Context,
    view: str,
    period: str,
    start: date,
    end: date,
    by: str | None,
    horizon: Duration,
    columns: str | None,
    fmt: str,
) -> None:
    """Logo churn, renewal rate, GRR, NRR, MRR movements, cohorts and time to churn.

    \b
    Per period (--view periods), counting accounts:
      active_start     active on the period's first day
      new              active in the period, not at its start
      churned          whose spell ended in the period (a churn is booked on the
                       end date; a completed fixed term is not churn)
      logo_churn_rate  churned / (active_start + new)
      renewal_rate     renewed / renewals_due (renewal dates in the period)
    and MRR on the period's first and last day:
      mrr_start        of the accounts active at the start
      cohort_mrr_end   at the end, of those same accounts (new ones left out)
      mrr_end          at the end, of every account (new ones included)
      grr              (mrr_start - churned_mrr - contraction_mrr) / mrr_start
      nrr              cohort_mrr_end / mrr_start
    Rates are fractions; with nothing to divide by they are empty. See docs/kpi.md.
    """
    check_range(start, end)
    ws = workspace_from(ctx)
    table = _view(ws, view, start, end, period, by, horizon)
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    shown = None
    if fmt == "table" and view == "periods" and columns == "default":
        shown = [c for c in TABLE_COLUMNS if c in table.columns]
    render(
        rows,
        fmt,
        columns=shown,
        title=f"KPIs: {view}" + (f" per {period}" if view == "periods" else ""),
    )


def _view(
    ws: Workspace,
    view: str,
    first: date,
    last: date,
    period: str,
    by: str | None,
    horizon: Duration,
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


def _gap(store: Any, ws: Workspace, as_of: date, horizon: Duration) -> pd.DataFrame:
    from kenko.validation.kpi import score_gap
    from kenko.validation.outcomes import label_outcomes

    version = ws.read_scorecard().version
    labels = label_outcomes(store, [as_of], horizon, ws.settings).labels
    churned = labels.loc[labels["churned"], "account_id"].tolist()
    gap = score_gap(store, version, as_of, churned)
    groups = gap.groups.assign(kind="group")
    measures = gap.measures.assign(kind="measure")
    return pd.concat([groups, measures], ignore_index=True)
