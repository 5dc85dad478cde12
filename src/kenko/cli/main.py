"""`kenko` commands: thin wrappers that read options, call the engine and render."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from kenko import __version__
from kenko.cli.output import format_option, render
from kenko.durations import Duration
from kenko.errors import KenkoError, UnknownAccountError
from kenko.settings import Entity
from kenko.warnings import KenkoWarning
from kenko.workspace import Workspace, find_workspace, init_workspace

log = logging.getLogger(__name__)
err_console = Console(stderr=True)


class KenkoGroup(click.Group):
    """Turns kenko's own errors into a short message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KenkoError as exc:
            # Plain echo: rich would re-wrap the message and split paths and values.
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


def workspace_from(ctx: click.Context) -> Workspace:
    explicit = ctx.obj.get("workspace")
    return find_workspace(Path(explicit) if explicit else None)


class OptionError(KenkoError, ValueError):
    """A command-line option whose value kenko cannot use."""


def parse_date(value: str | None, option: str = "--as-of") -> date:
    """``value`` as a date (today when None); an error names ``option``."""
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise OptionError(
            f"{option} {value!r} is not a date",
            fix="write it as YYYY-MM-DD, e.g. 2024-03-01",
        ) from exc


def parse_duration(value: str | Duration, option: str) -> Duration:
    """``value`` as a Duration; an error names ``option``."""
    try:
        return Duration.parse(value)
    except ValueError as exc:
        raise OptionError(
            f"{option} {value!r} is not a duration",
            fix="write a positive number and a unit: 28d (days), 12w (weeks), "
            "3mo (months) or 1y (years)",
        ) from exc


def check_range(
    first: date, last: date, start_option: str = "--from", end_option: str = "--to"
) -> None:
    """Refuse a range that ends before it starts."""
    if last < first:
        raise OptionError(
            f"{end_option} {last} is before {start_option} {first}",
            fix=f"give an earlier {start_option}, or a later {end_option}",
        )


def _option(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    return max(param.opts, key=len) if param.opts else str(param.name)


class DateType(click.ParamType):
    """A YYYY-MM-DD option; a bad value is a kenko error naming the option."""

    name = "date"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> date:
        if isinstance(value, date):
            return value
        return parse_date(str(value), _option(param))


class DurationType(click.ParamType):
    """A 28d / 12w / 3mo / 1y option; a bad value is a kenko error naming it."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Duration:
        return parse_duration(value, _option(param))


DATE = DateType()
DURATION = DurationType()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar on stderr, fed by the engine's on_progress callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task(label, total=None)

        def update(step: str, done: int, total: int) -> None:
            progress.update(
                task, description=f"{label}: {step}", completed=done, total=total
            )

        yield update


@click.group(cls=KenkoGroup)
@click.version_option(__version__, prog_name="kenko")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False),
    envvar="KENKO_WORKSPACE",
    help="Workspace folder (default: the nearest folder up with kenko.yaml).",
)
@click.option("--verbose", "-v", count=True, help="Log what kenko does (-vv: debug).")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, verbose: int) -> None:
    """kenko: customer health scores that prove they predict renewals."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


@cli.command()
@click.argument(
    "directory", required=False, default=".", type=click.Path(file_okay=False)
)
def init(directory: str) -> None:
    """Create a workspace: kenko.yaml (settings) and scorecard.yaml (DEAR template)."""
    ws = init_workspace(Path(directory))
    click.echo(f"Created workspace in {ws.root}")
    click.echo(
        "  kenko.yaml      settings: where data and the store live, column mapping"
    )
    click.echo("  scorecard.yaml  what is measured and how it is scored")
    click.echo("Next: kenko load FILE..., then kenko score")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--entity",
    type=click.Choice(["accounts", "subscriptions", "events"]),
    help="What the files hold (default: from their names, see `files:` in kenko.yaml).",
)
@format_option
@click.pass_context
def load(
    ctx: click.Context, paths: tuple[str, ...], entity: str | None, fmt: str
) -> None:
    """Load accounts, subscriptions and events from CSV (plain or .gz) or Parquet."""
    from kenko.load import load_files

    ws = workspace_from(ctx)
    files = [Path(p) for p in paths] or ws.data_paths()
    if not files:
        raise KenkoError(
            "no files to load",
            fix="name files to load, or list them under `data:` in kenko.yaml",
        )
    with ws.open_store() as store, progress_bar("Loading") as progress:
        reports = load_files(
            store,
            ws.settings,
            files,
            entity=cast(Entity | None, entity),
            on_progress=progress,
        )
    rows = [
        {
            "file": r.file,
            "entity": r.entity,
            "read": r.rows_read,
            "accepted": r.accepted,
            "rejected": r.rejected,
            "duplicates": r.duplicates,
        }
        for r in reports
    ]
    render(rows, fmt, title="Loaded")
    if fmt == "table":
        for r in reports:
            for p in r.problems[:5]:
                text = (
                    f"rejected {p.file} row {p.row}, {p.field}={p.value!r}: {p.reason}"
                )
                err_console.print("  " + text, highlight=False)
            if r.rejected > 5:
                err_console.print(
                    f"  … all {r.rejected} rejected rows of {r.file} are kept in the "
                    f"quarantine (load id {r.load_id})",
                    highlight=False,
                )


@cli.group()
def scorecard() -> None:
    """Check the scorecard or export its JSON Schema."""


@scorecard.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def scorecard_check(ctx: click.Context, file: str | None) -> None:
    """Validate a scorecard (default: the workspace's) and list every problem."""
    from kenko.scorecard import read_scorecard

    sc = read_scorecard(Path(file)) if file else workspace_from(ctx).read_scorecard()
    variants = sc.scorecard.variants()
    n = sum(len(v.measures()) for _, _, v in variants)
    click.echo(
        f"{sc.path}: OK — scorecard {sc.scorecard.name!r}, {len(variants)} variant(s), "
        f"{n} measure(s), version {sc.version[:12]}"
    )


@scorecard.command("schema")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write to a file."
)
def scorecard_schema(output: str | None) -> None:
    """Print (or write) the scorecard JSON Schema for editor completion."""
    import json

    from kenko.scorecard import json_schema

    text = json.dumps(json_schema(), indent=2)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output}")
    else:
        click.echo(text)


@cli.command()
@click.option(
    "--as-of", "as_of", help="Score as of this date (YYYY-MM-DD); default today."
)
@click.option(
    "--scorecard",
    "scorecard_file",
    type=click.Path(dir_okay=False),
    help="Use this scorecard instead of the workspace's.",
)
@format_option
@click.pass_context
def score(
    ctx: click.Context, as_of: str | None, scorecard_file: str | None, fmt: str
) -> None:
    """Score every account active on the as-of date and store the snapshot."""
    from kenko.scores import save_snapshots
    from kenko.store.queries import account_attributes

    ws = workspace_from(ctx)
    day = parse_date(as_of)
    if day > date.today() + timedelta(days=1):
        raise KenkoError(
            f"--as-of {day} is in the future; a score needs the data before its date",
            fix="score today or a past date (omit --as-of for today)",
        )
    sc = ws.read_scorecard(Path(scorecard_file) if scorecard_file else None)
    with ws.open_store() as store, progress_bar("Scoring") as progress:
        run = _score(store, sc, day, ws, progress)
        save_snapshots(store, run)
        attrs = account_attributes(store)
    for warning in run.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    results = [r.to_dict() for r in run.results]
    if fmt == "json":
        render(results, fmt)
        return
    if fmt == "csv":
        render(results, fmt, columns=_score_columns(results))
        return
    _print_score_summary(run, attrs)


def _score(store: Any, sc: Any, day: date, ws: Workspace, progress: Any) -> Any:
    from kenko.scores import score_accounts

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = score_accounts(
            store,
            sc.scorecard,
            day,
            ws.settings,
            version=sc.version,
            scorecard_text=sc.text,
            on_progress=progress,
        )
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, KenkoWarning) and text not in run.warnings:
            run.warnings.append(text)
    return run


def _score_columns(results: list[dict[str, Any]]) -> list[str]:
    base = [
        "account_id",
        "as_of",
        "segment",
        "score",
        "band",
        "status",
        "coverage",
        "previous_score",
        "change",
    ]
    groups = sorted({f"groups.{g}" for r in results for g in r.get("groups", {})})
    measures = sorted(
        {
            f"measures.{m}.{k}"
            for r in results
            for m in r.get("measures", {})
            for k in ("value", "points")
        }
    )
    return [*base, *groups, *measures, "reasons"]


def _print_score_summary(run: Any, attrs: dict[str, dict[str, str | None]]) -> None:
    counts: dict[str, int] = {}
    for r in run.results:
        key = r.band if r.status == "scored" else r.status
        counts[key] = counts.get(key, 0) + 1
    rows = [{"band": k, "accounts": v} for k, v in counts.items()]
    render(rows, "table", title=f"Scored {len(run.results)} accounts as of {run.as_of}")
    at_risk = sorted(
        (
            r
            for r in run.results
            if r.status == "scored" and r.band == _lowest_band(run)
        ),
        key=lambda r: r.score,
    )[:10]
    if at_risk:
        rows = [_risk_row(r, attrs.get(r.account_id, {})) for r in at_risk]
        render(rows, "table", title="Most at risk")


def _lowest_band(run: Any) -> str | None:
    bands = [r.band for r in run.results if r.status == "scored"]
    if not bands:
        return None
    order = {"red": 0, "yellow": 1, "green": 2}
    return min(bands, key=lambda b: order.get(b, 99))


def _risk_row(r: Any, attrs: dict[str, str | None]) -> dict[str, Any]:
    return {
        "account": r.account_id,
        "name": attrs.get("name"),
        "owner": attrs.get("owner"),
        "score": r.score,
        "band": r.band,
        "change": r.change,
        "reasons": ", ".join(
            f"{x.measure} ({x.value:.3g})"
            if x.value is not None
            else f"{x.measure} (no data)"
            for x in r.reasons
        ),
    }


@cli.command()
@click.option("--band", help="Only accounts in this band (or insufficient_data).")
@click.option(
    "--segment",
    "segments",
    multiple=True,
    metavar="K=V",
    help="Only accounts whose attribute K equals V (repeatable).",
)
@click.option(
    "--sort",
    type=click.Choice(["score", "change", "account"]),
    default="score",
    show_default=True,
)
@click.option(
    "--as-of", "as_of", help="Snapshot date (default: each account's latest)."
)
@format_option
@click.pass_context
def accounts(
    ctx: click.Context,
    band: str | None,
    segments: tuple[str, ...],
    sort: str,
    as_of: str | None,
    fmt: str,
) -> None:
    """List accounts with their latest score, band and top reasons."""
    from kenko.scores import read_snapshots
    from kenko.store.queries import account_attributes

    filters = [_key_value(s) for s in segments]
    ws = workspace_from(ctx)
    with ws.open_store() as store:
        snaps = read_snapshots(store, as_of=parse_date(as_of) if as_of else None)
        attrs = account_attributes(store)
    rows = []
    for s in snaps:
        a = attrs.get(s.account_id, {})
        if band and (s.band or s.status) != band:
            continue
        if any(a.get(k) != v for k, v in filters):
            continue
        rows.append(
            {
                "account_id": s.account_id,
                "name": a.get("name"),
                "owner": a.get("owner"),
                "as_of": s.as_of,
                "score": s.score,
                "band": s.band or s.status,
                "change": s.change,
                "coverage": s.coverage,
                "reasons": [x.measure for x in s.reasons],
            }
        )
    key: dict[str, Callable[[dict[str, Any]], Any]] = {
        "score": lambda r: (r["score"] is None, r["score"] or 0),
        "change": lambda r: (r["change"] is None, r["change"] or 0),
        "account": lambda r: r["account_id"],
    }
    rows.sort(key=key[sort])
    render(rows, fmt, title=f"{len(rows)} accounts")


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise KenkoError(
            f"--segment {text!r} is not K=V", fix="write e.g. --segment tier=enterprise"
        )
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


@cli.command()
@click.argument("account")
@click.option("--as-of", "as_of", help="Snapshot date (default: the latest).")
@format_option
@click.pass_context
def explain(ctx: click.Context, account: str, as_of: str | None, fmt: str) -> None:
    """Show how an account's score was made: groups, measures, points and reasons."""
    from kenko.scores import read_history

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        history = read_history(store, account)
    if as_of:
        day = parse_date(as_of)
        history = [h for h in history if h.as_of == day]
    if not history:
        raise UnknownAccountError(
            f"no snapshot for account {account!r}"
            + (f" as of {as_of}" if as_of else ""),
            fix="check the id with `kenko accounts`, or run `kenko score --as-of DATE`",
        )
    snap = history[-1]
    if fmt != "table":
        render([snap.to_dict()], fmt)
        return
    console = Console()
    head = (
        f"[bold]{snap.account_id}[/] as of {snap.as_of}: "
        f"{snap.score if snap.score is not None else '—'} "
        f"({snap.band or snap.status}), coverage {snap.coverage:.0%}"
    )
    if snap.change is not None:
        head += f", change {snap.change:+.1f}"
    console.print(head, highlight=False)
    render(
        [{"group": g, "score": v} for g, v in snap.groups.items()],
        "table",
        title="Groups",
    )
    render(
        [
            {
                "measure": name,
                "group": m.group,
                "value": m.value,
                "points": m.points,
                "weight": m.weight,
                "note": m.note,
            }
            for name, m in snap.measures.items()
        ],
        "table",
        title="Measures",
    )
    if snap.reasons:
        render(
            [
                {
                    "measure": r.measure,
                    "value": r.value,
                    "points": r.points,
                    "points lost": r.lost,
                }
                for r in snap.reasons
            ],
            "table",
            title="Top reasons",
        )


@cli.command()
@click.argument("account")
@format_option
@click.pass_context
def history(ctx: click.Context, account: str, fmt: str) -> None:
    """An account's score over time, one row per snapshot."""
    from kenko.scores import read_history

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        snaps = read_history(store, account)
    if not snaps:
        raise UnknownAccountError(
            f"no snapshot for account {account!r}",
            fix="check the id with `kenko accounts`, or run `kenko score --as-of DATE`",
        )
    rows = [
        {
            "as_of": s.as_of,
            "score": s.score,
            "band": s.band or s.status,
            "change": s.change,
            "coverage": s.coverage,
            "version": s.version[:12],
        }
        for s in snaps
    ]
    render(rows, fmt, title=f"History of {account}")


@cli.command()
@click.option(
    "--accounts",
    "n_accounts",
    default=300,
    show_default=True,
    help="How many sample accounts to generate.",
)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--keep",
    type=click.Path(file_okay=False),
    help="Build the demo workspace here and keep it (default: a temporary folder).",
)
@format_option
def demo(n_accounts: int, seed: int, keep: str | None, fmt: str) -> None:
    """Generate a sample company, load it, score it and show the at-risk accounts."""
    from kenko.demo.run import run_demo

    result = run_demo(Path(keep) if keep else None, accounts=n_accounts, seed=seed)
    run = result.run
    if fmt != "table":
        render([r.to_dict() for r in run.results if r.band == "red"], fmt)
        return
    render(result.load_rows, "table", title="Loaded sample data")
    from kenko.store.queries import account_attributes

    with result.workspace.open_store() as store:
        attrs = account_attributes(store)
    _print_score_summary(run, attrs)
    if keep:
        click.echo(f"Workspace kept in {keep}: try `kenko -w {keep} explain ACCOUNT`")


def main() -> None:
    cli(obj={})


# The later stages' commands register themselves on `cli` when imported.
from kenko.cli import discovery, kpi, playbooks, validation  # noqa: E402, F401
