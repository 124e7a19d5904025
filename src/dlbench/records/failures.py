"""A `summary.json` for a job that ended before `train()` could write its own: a sweep job that
failed, or any run stopped by SIGTERM while it was starting.

The comparison report then shows the job as failed or interrupted, with the reason, instead of leaving it out.
"""

from __future__ import annotations

from pathlib import Path

from dlbench.records.claim import RunDirTaken, claim
from dlbench.records.summary import Summary, whole_summary, write_summary


def record_failure(run_dir: Path, overrides: list[str], error: BaseException) -> Path | None:
    """Write status `failed` and the error into the job's run directory, unless a summary exists."""
    if isinstance(error, RunDirTaken):
        return None  # the directory is another run's: nothing is written into it
    existing = whole_summary(run_dir)  # a damaged one is replaced, as a running one is
    if existing is not None and existing.status != "running":
        return None  # train() already wrote one, with the history up to the failure
    return write_summary(run_dir, Summary.failed(run_dir=run_dir, overrides=overrides, error=error))


def record_stopped_while_starting(run_dir: Path, overrides: list[str], reason: str) -> Path | None:
    """Write status `interrupted` and `reason` (a signal before the first epoch) into the run directory,
    unless another live run holds it or a record is there already (an earlier attempt's, which says
    more: a sweep job resumed stops again before it trains)."""
    try:
        claim(run_dir, any_record=True)  # a no-op when this process took it already
    except RunDirTaken:
        return None  # another run's directory: nothing is written into it
    if whole_summary(run_dir) is not None:
        return None
    return write_summary(run_dir, Summary.stopped_while_starting(run_dir=run_dir, overrides=overrides, reason=reason))
