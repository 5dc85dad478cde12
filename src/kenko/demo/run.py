"""`kenko demo`: a generated company, loaded and scored in a throwaway workspace."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kenko.load import load_files
from kenko.scores import ScoreRun, save_snapshots, score_accounts
from kenko.workspace import Workspace, open_workspace

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """What the demo did: its workspace, the load counts and the scoring run."""

    workspace: Workspace
    load_rows: list[dict[str, Any]]
    run: ScoreRun


def run_demo(
    folder: Path | None = None, *, accounts: int = 300, seed: int = 7
) -> DemoResult:
    """Generate sample data into ``folder`` (default: a temporary one); load, score."""
    from kenko.demo.generator import generate

    root = folder or Path(tempfile.mkdtemp(prefix="kenko-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    files = generate(root, seed=seed, accounts=accounts)
    ws = open_workspace(root)
    playbooks = ws.resolve(ws.settings.playbooks)
    if not playbooks.exists():
        from kenko.playbooks.template import playbooks_template

        playbooks.write_text(playbooks_template(), encoding="utf-8")
    scorecard = ws.read_scorecard()
    with ws.open_store() as store:
        reports = load_files(store, ws.settings, ws.data_paths())
        run = score_accounts(
            store,
            scorecard.scorecard,
            files.as_of,
            ws.settings,
            version=scorecard.version,
            scorecard_text=scorecard.text,
        )
        save_snapshots(store, run)
    rows = [
        {
            "file": Path(r.file).name,
            "entity": r.entity,
            "read": r.rows_read,
            "accepted": r.accepted,
            "rejected": r.rejected,
            "duplicates": r.duplicates,
        }
        for r in reports
    ]
    log.info("demo workspace in %s", root)
    return DemoResult(ws, rows, run)
