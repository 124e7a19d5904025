"""A sweep's comparison report, through its two doors: at the end of every multirun (the Hydra
callback `ComparisonReport`) and again on demand, `python -m dlbench.report <sweep dir or run dir>`,
which also says how each job stands (a `running` job whose process is gone is `lost`).

The report is `dlbench.reporting.comparison`'s, plus the experiments' verdict section when the
jobs ran `experiment=<name>` (`write_sweep_report`): the one place where reporting and experiments
meet, so that neither imports the other's layer upwards. Hydra makes the callback for every
command, refused ones included, so this module imports the report's parts (Lightning among them)
only when a report is made.

The callback runs in the process that launched the sweep, after the launcher has collected every
job, so it works the same with the basic, joblib, submitit and population launchers and with the
Optuna sweeper.

- The report (report.csv, report.md, plots) is written into the sweep directory, and a table of
  the jobs (status, best value) printed: the sweep's last word, not its last job's table.
- The command exits with status 1 when any job failed (or was lost); a diverged job is a result
  of the sweep (that learning rate diverges), not a failure, and leaves the status 0.
- A sweep stopped before its end (Ctrl-C: the job under way stops between two steps and saves
  its last.ckpt, and the sweep goes no further) still writes its report, at exit: the jobs done,
  the one interrupted, those never started. Running the same command with the same
  `hydra.sweep.dir` resumes it (`dlbench.run.jobs`).
"""

from __future__ import annotations

import argparse
import atexit
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlbench.terminal.wording import plural

log = logging.getLogger(__name__)

FAILURES = ("failed", "lost")


def sweep_exit_status(statuses: list[str]) -> int:
    """0 when every job ran to a result (completed or diverged), 1 when one failed or was lost."""
    return 1 if any(status in FAILURES for status in statuses) else 0


class ComparisonReport(Callback):
    """Report, table and exit status at the end of a multirun (see the module docstring)."""

    def __init__(self) -> None:
        self._open: str | None = None  # the sweep under way, until its end is reported

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._open = str(config.hydra.sweep.dir)
        atexit.register(self._report_if_stopped)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir, self._open = str(config.hydra.sweep.dir), None
        statuses = self.report(sweep_dir, stopped=False)
        status = sweep_exit_status(statuses)
        if status:
            failed = sum(item in FAILURES for item in statuses)
            print(
                f"{failed} of {plural(len(statuses), 'job')} failed; see the table above and {sweep_dir}/report.md.",
                file=sys.stderr,
            )
            sys.exit(status)

    def _report_if_stopped(self) -> None:
        """At exit, a sweep that started jobs and did not reach its end gets its report (a sweep
        refused before its first job, e.g. `seeds=0`, has nothing to report)."""
        if self._open is not None:
            sweep_dir, self._open = self._open, None
            if any(Path(sweep_dir).glob("*/.hydra")):
                self.report(sweep_dir, stopped=True)

    def report(self, sweep_dir: str, stopped: bool) -> list[str]:
        """Write the report, print the table; return the jobs' statuses."""
        from dlbench.config.sweep_plan import read_plan
        from dlbench.reporting.comparison import find_jobs, swept_keys
        from dlbench.reporting.console import print_sweep_table

        try:
            written = write_sweep_report(sweep_dir)
            plan = read_plan(sweep_dir)
            jobs = find_jobs(sweep_dir, plan)
        except Exception as error:  # noqa: BLE001 - a report problem must not turn a finished sweep into a failure
            log.warning("No comparison report for %s: %s: %s", sweep_dir, type(error).__name__, error)
            print(f"warning: no comparison report for {sweep_dir}: {error}")
            return []
        counts = {
            status: sum(job.status == status for job in jobs) for status in dict.fromkeys(job.status for job in jobs)
        }
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        title = f"sweep {'stopped' if stopped else 'done'}: {plural(len(jobs), 'job')}, {summary}"
        print_sweep_table(jobs, swept_keys(jobs, plan), title)
        print(f"comparison report: {sweep_dir}/report.md ({len(written)} files)")
        if stopped:
            print(f"to resume it, run the same command again with hydra.sweep.dir={Path(sweep_dir)}")
        else:
            from dlbench.loggers.sweep_end import report_to_loggers

            report_to_loggers(sweep_dir, written)  # W&B's sweep group, MLflow's parent run: where the jobs logged
        return [job.status for job in jobs]


def write_sweep_report(sweep_dir: str | Path) -> list[Path]:
    """The comparison report of the sweep in `sweep_dir` with, for an experiment's sweep, its
    claim's verdict (report.md's last section and experiment_check.json)."""
    from dlbench.experiments.verdict_section import write_experiment_section
    from dlbench.reporting.comparison import write_report

    return write_report(sweep_dir, sections=[write_experiment_section])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a multirun's sweep directory, e.g. multirun/2026-01-31/12-00-00-000000")
    args = parser.parse_args(argv)
    try:
        written = write_sweep_report(args.sweep_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dlbench.config.sweep_plan import read_plan
    from dlbench.reporting.comparison import find_jobs, swept_keys
    from dlbench.reporting.console import print_sweep_table

    plan = read_plan(args.sweep_dir)
    jobs = find_jobs(args.sweep_dir, plan)
    statuses = ", ".join(
        f"{sum(job.status == s for job in jobs)} {s}" for s in dict.fromkeys(job.status for job in jobs)
    )
    print_sweep_table(jobs, swept_keys(jobs, plan), f"{args.sweep_dir}: {plural(len(jobs), 'job')}, {statuses}")
    for job in jobs:
        for problem in job.problems:
            print(f"warning: job {job.number}: {problem}.", file=sys.stderr)
        if job.status == "lost":
            print(f"job {job.number}: {job.summary.stop_reason}")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
