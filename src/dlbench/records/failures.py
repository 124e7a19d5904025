"""A `summary.json` for a sweep job that failed before `train()` could write its own.

The comparison report then shows the job as failed, with the error, instead of leaving it out.
"""

from __future__ import annotations

from pathlib import Path

from dlbench.records.claim import RunDirTaken
from dlbench.records.summary import Summary, whole_summary, write_summary


def record_failure(run_dir: Path, overrides: list[str], error: BaseException) -> Path | None:
    """Write status `failed` and the error into the job's run directory, unless a summary exists."""
    if isinstance(error, RunDirTaken):
        return None  # the directory is another run's: nothing is written into it
    existing = whole_summary(run_dir)  # a damaged one is replaced, as a running one is
    if existing is not None and existing.status != "running":
        return None  # train() already wrote one, with the history up to the failure
    return write_summary(run_dir, Summary.failed(run_dir=run_dir, overrides=overrides, error=error))
