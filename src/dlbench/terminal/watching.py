"""Whether a person watches (the bar's default), and which job or population members the bar shows.

The bar is made inside one job and knows only its own epochs; the sweeper knows how many jobs
there are, the population launcher how many members train and how many have stopped. They say
so here (no torch import: the sweeper calls it before any job runs) and the bar reads it.

- a sweep: `set_jobs(total)` once (the seeded sweeper does); the bar shows "job 3/12".
- a population: `set_label("population of 12, 4 stopped")` whenever that changes (per epoch).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_jobs: int | None = None
_job: int | None = None
_label: str | None = None


def set_jobs(total: int | None) -> None:
    """The number of jobs in the sweep now running (None: not a sweep)."""
    global _jobs
    _jobs = total


def set_job(number: int | None) -> None:
    """The job now running (its Hydra job number; None: a single run). `cli.run_job` says it;
    a job of its own also ends a population's label."""
    global _job, _label
    _job, _label = number, None


def set_label(text: str | None) -> None:
    """A label of its own (a population's members); None goes back to the job's."""
    global _label
    _label = text


def label() -> str | None:
    """What the bar puts before "Epoch": the label set, else "job N/total" in a sweep, else None."""
    if _label:
        return _label
    if _job is None or not _jobs or _jobs <= 1:
        return None
    return f"job {_job + 1}/{_jobs}"


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams (pytest's capture, a closed pipe)
        return False


def in_ci() -> bool:
    """True under a CI service (GitHub Actions, GitLab, Jenkins, ... all set `CI`) or a dumb terminal."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false") or os.environ.get("TERM") == "dumb"


def wants_progress(value: bool | str | None) -> bool:
    """`trainer.enable_progress_bar`: None (or "auto") shows the bar where a person watches."""
    if value is None or value == "auto":
        return is_terminal(sys.stdout) and not in_ci()
    return bool(value)
