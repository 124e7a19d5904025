"""The experiment section of a sweep's report: when the jobs ran `experiment=<name>`, report.md
ends with the claim, its numbers and its verdict, and `experiment_check.json` holds the same."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlbench.reporting.comparison import Job

CHECK_JSON = "experiment_check.json"
log = logging.getLogger(__name__)


def experiment_of(jobs: list[Job]) -> str | None:
    """The experiment the sweep's jobs ran (the one most of them name), or None."""
    names = [job.overrides.get("experiment") for job in jobs if job.overrides.get("experiment")]
    return max(set(names), key=names.count) if names else None


def write_experiment_section(sweep_dir: str | Path, jobs: list[Job]) -> list[Path]:
    """Append the claim's verdict to report.md and write experiment_check.json; nothing when the
    sweep did not come from an experiment. A claim that cannot be read is said in the section."""
    from dlbench.errors import ConfigError
    from dlbench.experiments.check import check, text
    from dlbench.reporting.comparison import TABLE_MARKDOWN

    name = experiment_of(jobs)
    if name is None:
        return []
    sweep_dir = Path(sweep_dir)
    try:
        verdict = check(name, sweep_dir)
    except ConfigError as error:
        section = f"\n## Experiment {name}: the claim\n\nNot checked: {error}\n"
        record = {"experiment": name, "held": None, "problem": str(error)}
    else:
        section = text(verdict, markdown=True) + "\n"
        record = {
            "experiment": name,
            "says": verdict.experiment.claim.says,
            "holds_if": verdict.experiment.claim.holds_if,
            "held": verdict.held,
            "numbers": verdict.lines,
            "comparisons": [comparison.record() for comparison in verdict.comparisons],
            "deviations": verdict.deviations,
            "problem": verdict.problem,
            "jobs": verdict.jobs,
            "completed": verdict.completed,
        }
    with (sweep_dir / TABLE_MARKDOWN).open("a") as handle:
        handle.write(section)
    path = sweep_dir / CHECK_JSON
    path.write_text(json.dumps(record, indent=2) + "\n")
    return [path]
