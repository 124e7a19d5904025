"""What a launcher costs a sweep: `python -m benchmarks.launchers` (a few minutes on 2 cores).

One 12-job sweep (MLP on Iris, 4 rates x 3 seeds, 5 epochs, no pictures) is run as a user runs it,
`python train.py -m ...`, once with each launcher in turn, in the same window: Hydra's basic
launcher (jobs one after another in the process), the joblib launcher (2 worker processes) and
dlbench's Ray launcher on a local Ray (2 CPUs, one per job). For each: the command's wall time,
jobs per second, the sum of the jobs' own `wall_time_s` (summary.json: build, fit, test), and
the time per job spent outside the jobs' own work,
`(wall time x parallel workers - sum of job times) / jobs`, which holds the launcher's start, its
per-job dispatch and collection, imports in fresh workers, and the sweep's report. The machine's
load average is recorded with each; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = (
    "optimizer.lr=0.1,0.05,0.02,0.01",
    "seed=1,2,3",
    "trainer.max_epochs=5",
    "callbacks.pictures.enabled=false",
)
LAUNCHERS = {
    "basic": ((), 1),
    "joblib": (("hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), 2),
    "ray": (("hydra/launcher=ray", "hydra.launcher.init.num_cpus=2"), 2),
}


def run(name: str, sweep_dir: Path) -> dict[str, float | str]:
    extra, workers = LAUNCHERS[name]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", *extra, *SWEEP, f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{name}: exit status {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    summaries = [json.loads(path.read_text()) for path in sweep_dir.glob("*/summary.json")]
    jobs = len(summaries)
    work = sum(float(summary["wall_time_s"]) for summary in summaries)
    return {
        "launcher": name,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "jobs_per_s": round(jobs / wall, 3),
        "job_work_s": round(work, 1),
        "outside_per_job_s": round((wall * workers - work) / jobs, 2),
        "load_before": round(load, 1),
        "load_after": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launchers", nargs="+", default=list(LAUNCHERS), choices=list(LAUNCHERS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.launchers:
            rows.append(run(name, Path(folder) / name))
            print(json.dumps(rows[-1]), flush=True)
    print("| launcher | wall (s) | jobs/s | sum of job times (s) | outside the jobs, per job (s) | load average |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['launcher']} | {row['wall_s']} | {row['jobs_per_s']} | {row['job_work_s']} | "
            f"{row['outside_per_job_s']} | {row['load_before']} -> {row['load_after']} |"
        )


if __name__ == "__main__":
    main()
