"""`python -m dlbench.report <sweep dir or run dir>`: make a sweep's comparison report again from its
files, and say how each job stands (a `running` job whose process is gone is `lost`)."""

from __future__ import annotations

import argparse
import sys

from dlbench.reporting.comparison import write_report
from dlbench.wording import plural


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbench.report", description=__doc__)
    parser.add_argument("sweep_dir", help="a multirun's sweep directory, e.g. multirun/2026-01-31/12-00-00-000000")
    args = parser.parse_args(argv)
    try:
        written = write_report(args.sweep_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dlbench.reporting.comparison import find_jobs, swept_keys
    from dlbench.reporting.console import print_sweep_table
    from dlbench.reporting.sweep_plan import read_plan

    plan = read_plan(args.sweep_dir)
    jobs = find_jobs(args.sweep_dir, plan)
    statuses = ", ".join(
        f"{sum(job.status == s for job in jobs)} {s}" for s in dict.fromkeys(job.status for job in jobs)
    )
    print_sweep_table(jobs, swept_keys(jobs, plan), f"{args.sweep_dir}: {plural(len(jobs), 'job')}, {statuses}")
    for job in jobs:
        if job.status == "lost":
            print(f"job {job.number}: {job.summary.get('stop_reason')}")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
