"""Rendering command results as a table, JSON or CSV.

Commands hand over plain rows (dicts); nested values (groups, measures, reasons) stay
nested in JSON and are flattened to dotted column names in CSV and tables.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "csv")

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"groups": {"ROI": 50}} -> {"groups.ROI": 50}; lists become '; '-joined text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = "; ".join(
                _summary(v) if isinstance(v, dict) else str(v) for v in value
            )
        else:
            out[name] = _plain(value)
    return out


def _summary(item: dict[str, Any]) -> str:
    if "measure" in item and "lost" in item:
        return f"{item['measure']} (-{item['lost']:.1f})"
    return ", ".join(f"{k}={v}" for k, v in item.items())


def render(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """Print rows to stdout in the chosen format."""
    if fmt == "json":
        click.echo(json.dumps([_plain(r) for r in rows], indent=2, ensure_ascii=False))
        return
    flat = [flatten(r) for r in rows]
    cols = list(columns) if columns else _all_columns(flat)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(flat)
        click.echo(buffer.getvalue(), nl=False)
        return
    table = Table(title=title, show_lines=False)
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in flat:
        table.add_row(*[_cell(row.get(c)) for c in cols])
    (console or _stdout_console()).print(table)


def _stdout_console() -> Console:
    # Piped output has no width; 80 columns would fold every reason list.
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _all_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 and value != 0 else f"{value:,.1f}"
    return str(value)
