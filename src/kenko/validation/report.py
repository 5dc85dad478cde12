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
    other = d.get("compare")
    head = "<tr><th></th><th>" + html.escape(result.scorecard) + "</th>"
    head += f"<th>{html.escape(other['scorecard'])}</th></tr>" if other else "</tr>"
    rows = head + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td>"
        + (f"<td>{_fmt(other['overall'][k])}</td>" if other else "")
        + "</tr>"
        for k, v in d["overall"].items()
    )
    paired = _paired(d.get("paired_auc_difference"), result)
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
{paired}
<h2>Churn by band</h2>
<table><tr><th>band</th><th>rows</th><th>churned</th><th>rate</th><th>95%</th></tr>
{bands}</table>
{divs}
<script>{plots}</script>
</body></html>
"""
    Path(path).write_text(page, encoding="utf-8")


def _paired(paired: dict[str, Any] | None, result: BacktestResult) -> str:
    """The paired AUC difference of the two scorecards, as a small table."""
    if paired is None or result.compare is None:
        return ""
    p = paired["p_value"]
    if paired.get("p_value_below") is not None:
        p = f"< {paired['p_value_below']:.2g}"
    name_a = html.escape(result.scorecard)
    name_b = html.escape(result.compare.scorecard)
    return (
        f"<h2>Paired AUC difference ({name_a} − {name_b})</h2><table>"
        f"<tr><th>AUC {name_a}</th><td>{_fmt(paired['auc_a'])}</td></tr>"
        f"<tr><th>AUC {name_b}</th><td>{_fmt(paired['auc_b'])}</td></tr>"
        f"<tr><th>difference</th><td>{_fmt(paired['difference'])}</td></tr>"
        f"<tr><th>95% interval</th><td>{_fmt(paired['low'])} – "
        f"{_fmt(paired['high'])}</td></tr>"
        f"<tr><th>p-value</th><td>{_fmt(p)}</td></tr></table>"
    )


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
    runs = [result] + ([result.compare] if result.compare is not None else [])
    data = [
        {
            "x": r.calibration["predicted"].tolist(),
            "y": r.calibration["observed"].tolist(),
            "text": [f"{n} account-dates" for n in r.calibration["n"]],
            "mode": "lines+markers",
            "name": r.scorecard if len(runs) > 1 else "observed",
        }
        for r in runs
    ]
    data.append({"x": [0, 1], "y": [0, 1], "name": "perfect", "line": {"dash": "dot"}})
    layout = {
        "title": "Calibration (later half of the dates)",
        "xaxis": {"title": "predicted renewal rate", "range": [0, 1]},
        "yaxis": {"title": "observed renewal rate", "range": [0, 1]},
    }
    return {"data": data, "layout": layout}


def _bands_over_time(result: BacktestResult) -> dict[str, Any]:
    runs = [result] + ([result.compare] if result.compare is not None else [])
    data = [
        {
            "x": [d.isoformat() for d in group["as_of"]],
            "y": group["churn_rate"].tolist(),
            "name": f"{r.scorecard}: {band}" if len(runs) > 1 else str(band),
            "mode": "lines+markers",
            **({"line": {"dash": "dash"}} if i else {}),
        }
        for i, r in enumerate(runs)
        for band, group in r.bands_over_time.groupby("band", sort=False)
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
