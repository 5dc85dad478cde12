"""`kenko run`, `kenko actions` and `kenko playbooks`: the daily job and its tasks."""

from __future__ import annotations

import getpass
import os
from datetime import date, timedelta
from pathlib import Path

import click

from kenko.cli.main import DURATION, cli, err_console, parse_date, workspace_from
from kenko.cli.output import format_option, render
from kenko.durations import Duration
from kenko.errors import KenkoError
from kenko.playbooks.rules import Playbooks
from kenko.scorecard import ScorecardFile
from kenko.workspace import Workspace


def _read_playbooks(
    ws: Workspace, file: str | None = None
) -> tuple[ScorecardFile, Playbooks, Path]:
    from kenko.playbooks.rules import read_playbooks

    sc = ws.read_scorecard()
    path = Path(file) if file else ws.resolve(ws.settings.playbooks)
    return sc, read_playbooks(path, sc.scorecard), path


def _who(by: str | None) -> str:
    """--by, else $USER / $USERNAME, else the OS login name, else "unknown"."""
    if by is not None:
        if not by.strip():
            raise KenkoError("--by is empty", fix="pass --by NAME, or leave it out")
        return by.strip()
    named = os.environ.get("USER") or os.environ.get("USERNAME")
    if named:
        return named
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):
        return "unknown"


@cli.command("run")
@click.option("--as-of", "as_of", help="Run for this date (default today).")
@click.option("--from", "start", help="Replay from this date (with --to).")
@click.option("--to", "end", help="Replay up to this date, inclusive.")
@click.option(
    "--every", default="1d", show_default=True, help="Step of a replay: 1d, 1w, 1mo."
)
@click.option("--no-load", is_flag=True, help="Do not load new files first.")
@click.option(
    "--no-notify",
    is_flag=True,
    help="Queue no notifications for this run and send none (nothing is left for "
    "a later run to send).",
)
@format_option
@click.pass_context
def run_command(
    ctx: click.Context,
    as_of: str | None,
    start: str | None,
    end: str | None,
    every: str,
    no_load: bool,
    no_notify: bool,
    fmt: str,
) -> None:
    """Load new files, score, apply the playbooks and notify (one run per date).

    A replay (--from/--to, or an --as-of date before yesterday) records what the
    rules would have done and queues no notifications. When the newest event is
    older than max_data_age (playbooks file, default 7d) before the as-of date, the
    run scores but opens no actions (status `stale`). See docs/scheduling.md.
    """
    from kenko.playbooks.run import run_dates, run_range

    if (start is None) != (end is None) or (start and as_of):
        raise KenkoError(
            "give either --as-of DATE or both --from DATE and --to DATE",
            fix="e.g. kenko run --from 2023-01-01 --to 2023-12-01 --every 1mo",
        )
    if start and end:
        first, last = parse_date(start, "--from"), parse_date(end, "--to")
        try:
            dates = run_dates(first, last, every)
        except ValueError as exc:
            raise KenkoError(f"--every: {exc}") from exc
    else:
        dates = [parse_date(as_of)]
    if dates and dates[-1] > date.today() + timedelta(days=1):
        raise KenkoError(f"{dates[-1]} is in the future", fix="run today or past dates")
    ws = workspace_from(ctx)
    sc, playbooks, _ = _read_playbooks(ws)
    paths = [] if no_load or not ws.settings.data else ws.data_paths()
    with ws.open_store() as store:
        reports = run_range(
            store,
            ws.settings,
            sc,
            playbooks,
            dates,
            load_paths=paths,
            by="kenko run",
            notify=not no_notify,
            replay=True if start else None,
        )
    rows = [r.to_dict() for r in reports]
    for r in reports:
        for w in r.warnings:
            err_console.print(f"[yellow]{r.as_of}:[/] {w}", highlight=False)
    columns = [
        "as_of",
        "status",
        "rows_loaded",
        "scored",
        "opened",
        "updated",
        "closed",
        "held_out",
        "notified",
        "notifications",
        "duration_s",
    ]
    render(rows, fmt, columns=None if fmt == "json" else columns, title="Runs")


@cli.group("actions", invoke_without_command=True)
@click.option("--open", "open_only", is_flag=True, help="Only open actions.")
@click.option("--owner", help="Only this owner's actions.")
@click.option("--account", help="Only this account's actions.")
@format_option
@click.pass_context
def actions_group(
    ctx: click.Context,
    open_only: bool,
    owner: str | None,
    account: str | None,
    fmt: str,
) -> None:
    """List actions the playbooks opened; `done` and `dismiss` change one."""
    if ctx.invoked_subcommand is not None:
        return
    from kenko.playbooks.actions import list_actions

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        found = list_actions(store, open_only=open_only, owner=owner, account=account)
    rows = [a.to_dict() for a in found]
    columns = None
    if fmt == "table":
        columns = [
            "action_id",
            "status",
            "account_id",
            "rule",
            "title",
            "owner",
            "priority",
            "due_on",
            "opened_on",
            "last_score",
        ]
    render(rows, fmt, columns=columns, title=f"{len(rows)} actions")


@actions_group.command("done")
@click.argument("action_id", type=int)
@click.option("--note", help="What was done.")
@click.option("--by", help="Who (default: $USER).")
@click.pass_context
def actions_done(
    ctx: click.Context, action_id: int, note: str | None, by: str | None
) -> None:
    """Mark an open action done."""
    from kenko.playbooks.actions import mark_done

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        action = mark_done(store, action_id, by=_who(by), note=note)
    click.echo(f"Action {action.action_id} done: {action.title}")


@actions_group.command("dismiss")
@click.argument("action_id", type=int)
@click.option("--reason", required=True, help="Why no action is needed.")
@click.option("--by", help="Who (default: $USER).")
@click.pass_context
def actions_dismiss(
    ctx: click.Context, action_id: int, reason: str, by: str | None
) -> None:
    """Dismiss an open action, saying why."""
    from kenko.playbooks.actions import dismiss

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        action = dismiss(store, action_id, by=_who(by), reason=reason)
    click.echo(f"Action {action.action_id} dismissed: {action.title}")


@actions_group.command("history")
@click.argument("action_id", type=int)
@format_option
@click.pass_context
def actions_history(ctx: click.Context, action_id: int, fmt: str) -> None:
    """Every change to one action: who, when, what."""
    from kenko.playbooks.actions import action_history

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        rows = action_history(store, action_id)
    render(rows, fmt, title=f"History of action {action_id}")


@cli.group("playbooks")
def playbooks_group() -> None:
    """Check the playbooks file or report whether the playbooks help."""


@playbooks_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def playbooks_check(ctx: click.Context, file: str | None) -> None:
    """Validate the playbooks file (against the scorecard) and list every problem."""
    # The settings (notification targets on the allow-list) are checked on reading.
    ws = workspace_from(ctx)
    _, playbooks, path = _read_playbooks(ws, file)
    click.echo(
        f"{path}: OK — {len(playbooks.rules)} rule(s), "
        f"{len(playbooks.people)} person(s)"
    )
    config = ws.settings.notifications
    channels = [f"webhook {w.name}" for w in config.webhooks]
    channels += ["e-mail"] if config.smtp is not None else []
    click.echo(f"notifications: OK — {', '.join(channels) or 'no channel configured'}")


@playbooks_group.command("report")
@click.option("--horizon", type=DURATION, default="180d", show_default=True)
@format_option
@click.pass_context
def playbooks_report(ctx: click.Context, horizon: Duration, fmt: str) -> None:
    """Per rule: actioned vs held-out accounts' renewal and score recovery."""
    from kenko.playbooks.effectiveness import effectiveness

    ws = workspace_from(ctx)
    sc = ws.read_scorecard()
    with ws.open_store() as store:
        report = effectiveness(store, ws.settings, horizon, version=sc.version)
    for w in report.warnings:
        err_console.print(f"[yellow]Warning:[/] {w}", highlight=False)
    render([r.to_dict() for r in report.rows], fmt, title=report.title)


@cli.group("notifications", invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice(["new", "pending", "sent", "dead", "refused", "dropped"]),
    help="Only notifications with this status.",
)
@format_option
@click.pass_context
def notifications_group(ctx: click.Context, status: str | None, fmt: str) -> None:
    """List the notification outbox; `drop` discards queued or refused ones."""
    if ctx.invoked_subcommand is not None:
        return
    from kenko.playbooks.notify import list_outbox

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        rows = list_outbox(store, status=status)
    columns = None
    if fmt == "table":
        columns = [
            "created_at",
            "status",
            "channel",
            "kind",
            "dedupe_key",
            "attempts",
            "last_error",
        ]
    render(rows, fmt, columns=columns, title=f"{len(rows)} notifications")


@notifications_group.command("drop")
@click.option(
    "--status",
    required=True,
    type=click.Choice(["new", "pending", "dead", "refused"]),
    help="Drop every notification with this status (kept as dropped, never sent).",
)
@click.pass_context
def notifications_drop(ctx: click.Context, status: str) -> None:
    """Discard notifications that should not be sent (e.g. a backlog of old ones)."""
    from kenko.playbooks.notify import drop

    ws = workspace_from(ctx)
    with ws.open_store() as store:
        dropped = drop(store, status)
    click.echo(f"Dropped {dropped} {status} notification(s).")
