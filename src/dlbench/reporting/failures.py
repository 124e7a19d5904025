"""A `summary.json` for a sweep job that failed before `train()` could write its own.

The comparison report then shows the job as failed, with the error, instead of leaving it out.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from dlbench.reporting.summary import SUMMARY_FILE, read_summary, write_summary


def record_failure(run_dir: Path, overrides: list[str], error: BaseException) -> Path | None:
    """Write status `failed` and the error into the job's run directory, unless a summary exists."""
    from dlbench.run.claim import RunDirTaken

    if isinstance(error, RunDirTaken):
        return None  # the directory is another run's: nothing is written into it
    existing = run_dir / SUMMARY_FILE
    if existing.exists() and read_summary(run_dir).get("status") != "running":
        return None  # train() already wrote one, with the history up to the failure (a running one is replaced)
    summary = {
        "status": "failed",
        "stop_reason": f"{type(error).__name__}: {error}",
        "metrics": {"train": {}, "val": {}, "test": {}},
        "best": None,
        "epochs_run": 0,
        "history": [],
        "overrides": overrides,
        "run_dir": str(run_dir.resolve()),
        "traceback": "".join(traceback.format_exception(error)),
    }
    return write_summary(run_dir, summary)
