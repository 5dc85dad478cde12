"""`kenko kpi`: churn, renewal, GRR / NRR and MRR movements per period."""

from __future__ import annotations

from typing import cast

import click

from kenko.cli.main import cli, parse_date, workspace_from
from kenko.cli.output import format_option, render


@cli.command()
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
@format_option
@click.pass_context
def kpi(
    ctx: click.Context,
    period: str,
    start: str,
    end: str,
    by: str | None,
    fmt: str,
) -> None:
    """Logo churn, renewal rate, GRR, NRR and MRR movements per period."""
    from kenko.validation.kpi import Period, period_kpis

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        table = period_kpis(
            store,
            ws.settings,
            parse_date(start),
            parse_date(end),
            cast(Period, period),
            by=by,
        )
    rows = table.astype(object).where(table.notna(), None).to_dict("records")
    render(rows, fmt, title=f"KPIs per {period}")
