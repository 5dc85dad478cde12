"""A backtest as one self-contained HTML page: Plotly charts, the JS inlined."""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from kenko.validation.backtest import BacktestResult


def write_html(result: BacktestResult, path: Path | str) -> None:
    """Write the report: ROC, calibration, churn by band over time, the figures."""
    js = files("kenko.validation").joinpath("assets/plotly.min.js").read_text("utf-8")
    charts = {"roc": _roc(result), "calibration": _calibration(result)}
    charts["bands"] = _bands_over_time(result)
    d = result.to_dict()
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>"
        for k, v in d["overall"].items()
    )
    bands = "".join(
        f"<tr><td>{html.escape(str(b['band']))}</td><td>{b['rows']}</td>"
        f"<td>{b['churned']}</td><td>{_fmt(b['churn_rate'])}</td>"
        f"<td>{_fmt(b['low'])} – {_fmt(b['high'])}</td></tr>"
        for b in d["bands"]
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
    divs = "".join(f'<div id="{k}" class="chart"></div>' for k in charts)
    plots = "".join(
        f"Plotly.newPlot({json.dumps(k)}, {json.dumps(v['data'])}, "
        f"{json.dumps(v['layout'])}, {{displaylogo: false}});"
        for k, v in charts.items()
    )
    title = html.escape(f"Backtest of {result.scorecard}")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}
.chart{{width:640px;height:420px;display:inline-block}}</style>
<script>{js}</script></head><body>
<h1>{title}</h1>
<p>{len(result.dates)} as-of dates {result.dates[0]} … {result.dates[-1]}, horizon
{html.escape(result.horizon)}, version {html.escape(result.version[:12])};
{result.censored} account-dates censored.</p>
<ul>{warnings}</ul>
<table>{rows}</table>
<h2>Churn by band</h2>
<table><tr><th>band</th><th>rows</th><th>churned</th><th>rate</th><th>95%</th></tr>
{bands}</table>
{divs}
<script>{plots}</script>
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")


def _roc(result: BacktestResult) -> dict[str, Any]:
    data = [
        {
            "x": result.roc["fpr"].tolist(),
            "y": result.roc["tpr"].tolist(),
            "name": f"{result.scorecard} (AUC {_fmt(result.overall.auc)})",
        },
        {"x": [0, 1], "y": [0, 1], "name": "chance", "line": {"dash": "dot"}},
    ]
    if result.compare is not None:
        other = result.compare
        data.insert(
            1,
            {
                "x": other.roc["fpr"].tolist(),
                "y": other.roc["tpr"].tolist(),
                "name": f"{other.scorecard} (AUC {_fmt(other.overall.auc)})",
            },
        )
    layout = {
        "title": "ROC: churners found (red first) vs renewers flagged",
        "xaxis": {"title": "false positive rate"},
        "yaxis": {"title": "true positive rate"},
    }
    return {"data": data, "layout": layout}


def _calibration(result: BacktestResult) -> dict[str, Any]:
    table = result.calibration
    data = [
        {
            "x": table["predicted"].tolist(),
            "y": table["observed"].tolist(),
            "text": [f"{n} account-dates" for n in table["n"]],
            "mode": "lines+markers",
            "name": "observed",
        },
        {"x": [0, 1], "y": [0, 1], "name": "perfect", "line": {"dash": "dot"}},
    ]
    layout = {
        "title": "Calibration (later half of the dates)",
        "xaxis": {"title": "predicted renewal rate", "range": [0, 1]},
        "yaxis": {"title": "observed renewal rate", "range": [0, 1]},
    }
    return {"data": data, "layout": layout}


def _bands_over_time(result: BacktestResult) -> dict[str, Any]:
    table = result.bands_over_time
    data = [
        {
            "x": [d.isoformat() for d in group["as_of"]],
            "y": group["churn_rate"].tolist(),
            "name": str(band),
            "mode": "lines+markers",
        }
        for band, group in table.groupby("band", sort=False)
    ]
    layout = {
        "title": f"Churn within {result.horizon} by band",
        "xaxis": {"title": "as-of date"},
        "yaxis": {"title": "churn rate", "tickformat": ".0%"},
    }
    return {"data": data, "layout": layout}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))
