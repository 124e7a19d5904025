"""What each logger costs a run: `python -m benchmarks.loggers` (about a minute on 2 cores).

Direct (the default): one real default run (MLP on Iris, `python train.py`, 100 epochs) gives a real
resolved config, 100 real epoch rows, summary.json and the run's pictures. Each logger is then
driven exactly as a run drives it (`start_loggers`, the task's `log_metrics(row, step=epoch)` per
epoch, `finish_loggers`) and timed: the cost per epoch and the fixed cost of start + finish, the
minimum of `--repeats` (other processes on a shared machine only ever add time), set beside the
run's own time per epoch.

`--end-to-end` instead:

Runs the default job (MLP on Iris) as a user does, `python train.py logger=[...]`, each in a fresh
process, at two epoch counts. The slope over the epochs is the cost per epoch; the intercept is the
fixed cost (imports, opening the logger's run, the end-of-run pictures and hyperparameters).
Two clocks: the CPU time of the whole command (user + system, from the OS; what the logger costs
even on a busy machine, where other processes inflate wall time) and summary.json's `wall_time_s`
(build, fit, test, summary). Reported as ratios to `logger=csv` and in milliseconds, medians of
`--repeats` runs; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SETS = ["[csv]", "[csv,tensorboard]", "[csv,mlflow]", "[csv,tensorboard,mlflow]"]


def one_run(loggers: str, epochs: int, work: Path) -> tuple[float, float]:
    """(summary.json's wall_time_s, the whole command's CPU seconds) of one run in a fresh process."""
    run_dir = work / f"run-{time.monotonic_ns()}"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        f"logger={loggers}",
        f"trainer.max_epochs={epochs}",
        f"hydra.run.dir={run_dir}",
        f"logger.mlflow.tracking_uri=file:{work / 'mlruns'}" if "mlflow" in loggers else "seed=42",
    ]
    environment = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True, env=environment, cwd=work)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads((run_dir / "summary.json").read_text())["wall_time_s"], cpu


def make_logger(name: str, run_dir: Path, work: Path) -> Any:
    from pytorch_lightning.loggers import CSVLogger

    from dlbench.loggers.mlflow_logger import DlbenchMLFlowLogger
    from dlbench.loggers.tensorboard_logger import DlbenchTensorBoardLogger

    if name == "csv":
        return CSVLogger(save_dir=str(run_dir), name="", version="")
    if name == "tensorboard":
        return DlbenchTensorBoardLogger(save_dir=str(run_dir))
    return DlbenchMLFlowLogger(tracking_uri=f"file:{work / 'mlruns'}")


def direct(repeats: int) -> None:
    """Each logger driven as a run drives it, on a real run's config, rows, summary and pictures."""
    import shutil

    from dlbench.loggers.protocol import finish_loggers, start_loggers

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source = work / "source"
        subprocess.run(
            [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={source}"], check=True, capture_output=True
        )
        summary = json.loads((source / "summary.json").read_text())
        rows, epoch_s = summary["history"], summary["time_per_epoch_s"]
        results = {}
        for name in ("csv", "tensorboard", "mlflow"):
            per_epoch, fixed = [], []
            for attempt in range(repeats):
                run_dir = work / f"{name}-{attempt}"
                shutil.copytree(source, run_dir)
                config = {**summary["config"], "paths": {"output_dir": str(run_dir)}}
                logger = make_logger(name, run_dir, work)
                started = time.perf_counter()
                start_loggers([logger], config)
                opened = time.perf_counter()
                for row in rows:
                    logger.log_metrics(row, step=int(row["epoch"]))
                logged = time.perf_counter()
                logger.save()
                finish_loggers([logger], {**summary, "run_dir": str(run_dir)})
                finished = time.perf_counter()
                per_epoch.append((logged - opened) / len(rows))
                fixed.append((opened - started) + (finished - logged))
            results[name] = (min(per_epoch), min(fixed))
    print(f"default Iris run ({len(rows)} epochs); the run's own time per epoch: {1000 * epoch_s:.2f} ms")
    print(f"minimum of {repeats} repeats")
    print("| logger | ms per epoch | of the run's epoch | start + finish (s) |")
    print("|---|---|---|---|")
    for name, (epoch_cost, fixed_cost) in results.items():
        print(f"| `{name}` | {1000 * epoch_cost:.3f} | {100 * epoch_cost / epoch_s:.1f}% | {fixed_cost:.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loggers", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--end-to-end", action="store_true", help="whole commands at two epoch counts")
    parser.add_argument("--epochs", type=int, nargs=2, default=(20, 200), help="--end-to-end's two epoch counts")
    args = parser.parse_args(argv)
    if not args.end_to_end:
        direct(args.repeats)
        return 0
    low, high = args.epochs
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        one_run("[csv,tensorboard,mlflow]", 1, work)  # warm the file cache and create the MLflow store
        for loggers in SETS:
            runs = {epochs: [one_run(loggers, epochs, work) for _ in range(args.repeats)] for epochs in (low, high)}
            results[loggers] = {}
            for clock, name in ((1, "cpu"), (0, "wall")):
                at = {epochs: statistics.median(run[clock] for run in runs[epochs]) for epochs in runs}
                per_epoch = (at[high] - at[low]) / (high - low)
                results[loggers][name] = (1000 * per_epoch, at[low] - low * per_epoch)
    base = results["[csv]"]
    print(f"default Iris run, median of {args.repeats}; per epoch: slope between {low} and {high} epochs")
    print("| logger | CPU ms per epoch | x csv | CPU fixed (s) | + vs csv | wall ms per epoch | x csv |")
    print("|---|---|---|---|---|---|---|")
    for loggers, row in results.items():
        (cpu_epoch, cpu_fixed), (wall_epoch, _) = row["cpu"], row["wall"]
        print(
            f"| `logger={loggers}` | {cpu_epoch:.2f} | {cpu_epoch / base['cpu'][0]:.2f} | {cpu_fixed:.2f} | "
            f"{cpu_fixed - base['cpu'][1]:+.2f} | {wall_epoch:.2f} | {wall_epoch / base['wall'][0]:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
