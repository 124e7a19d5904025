"""A sweep's comparison report, in the sweep's W&B group.

The report belongs to the sweep, not to any one job, so it goes into a small extra W&B run named
`report` (job type `report`) in the same group as the jobs: the group page then shows every job
and, beside them, the table and plots that compare them. Attaching it to the last job instead
would mix one job's own numbers with the whole sweep's and change if the sweep were re-run.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dlbench.loggers.wandb_logger import resolve_mode, sweep_group, wandb_installed
from dlbench.records.summary import SUMMARY_FILE, whole_summary


def wandb_settings_of_sweep(sweep_dir: Path) -> dict[str, Any] | None:
    """`logger.wandb` of the sweep's jobs as they ran, or None when no job logged to W&B."""
    for summary_path in sorted(sweep_dir.glob(f"*/{SUMMARY_FILE}")):
        summary = whole_summary(summary_path)
        if summary is None:
            continue
        settings = (summary.config.get("logger") or {}).get("wandb")
        if settings:
            return settings
    return None


def log_report_to_wandb(sweep_dir: str | Path, files: Iterable[str | Path]) -> str | None:
    """Log the report's PNGs as images and its CSV as a table; return the W&B run's directory.

    Does nothing (returns None) when the sweep's jobs did not use `logger=wandb` or W&B is off.
    """
    sweep_dir = Path(sweep_dir)
    settings = wandb_settings_of_sweep(sweep_dir)
    if settings is None or not wandb_installed():
        return None
    mode, reason = resolve_mode(settings.get("mode") or "auto")
    if mode == "disabled":
        return None
    import wandb

    if wandb.run is not None:
        wandb.run.finish()
    group = settings.get("group") or sweep_group(sweep_dir)
    run = wandb.init(
        project=settings.get("project") or "dlbench",
        entity=settings.get("entity"),
        group=group,
        job_type="report",
        name="report",
        tags=["report"],
        dir=str(sweep_dir),
        mode=mode,
        settings=wandb.Settings(silent=True, init_timeout=60),
    )
    try:
        paths = [Path(path) for path in files]
        images = {f"report/{path.stem}": wandb.Image(str(path)) for path in paths if path.suffix == ".png"}
        tables = {}
        for path in paths:
            if path.suffix == ".csv":
                with path.open() as handle:
                    rows = list(csv.reader(handle))
                if rows:
                    tables[f"report/{path.stem}"] = wandb.Table(columns=rows[0], data=rows[1:])
        run.log({**images, **tables})
        location = run.url if mode == "online" else run.settings.sync_dir
    finally:
        run.finish()
    if mode == "online":
        print(f"W&B: comparison report in group {group}: {location}", flush=True)
    else:
        why = f" ({reason})" if reason else ""
        print(
            f"W&B: offline{why}; comparison report of group {group} saved in {location}; upload the sweep "
            f"with: wandb sync {sweep_dir}/*/wandb/offline-run-* {location}",
            flush=True,
        )
    return str(location)


def safely_log_report(sweep_dir: str | Path, files: Iterable[str | Path]) -> None:
    """The report on disk is what matters; a W&B problem is one line, never a failed sweep."""
    try:
        log_report_to_wandb(sweep_dir, files)
    except Exception as error:  # noqa: BLE001
        print(f"W&B: the comparison report was not logged ({type(error).__name__}: {error})", file=sys.stderr)
