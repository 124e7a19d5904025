"""What each logger costs a run: `python -m benchmarks.loggers` (about 3 minutes on 2 cores).

Runs the default job (MLP on Iris) as a user does, `python train.py logger=[...]`, each in a fresh
process, at two epoch counts. The slope of `wall_time_s` (summary.json: build, fit, test and
summary) over the epochs is the cost per epoch; the intercept is the fixed cost (opening the
logger's run, the end-of-run pictures and hyperparameters). Reported as ratios to `logger=csv`
and as milliseconds, medians of `--repeats` runs; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = ["[csv]", "[csv,tensorboard]", "[csv,mlflow]", "[csv,tensorboard,mlflow]"]


def one_run(loggers: str, epochs: int, work: Path) -> tuple[float, float]:
    """(summary.json's wall_time_s, the whole command's seconds) of one run in a fresh process."""
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
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=environment, cwd=work)
    whole = time.perf_counter() - started
    return json.loads((run_dir / "summary.json").read_text())["wall_time_s"], whole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loggers", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, nargs=2, default=(20, 200), help="the two epoch counts")
    args = parser.parse_args(argv)
    low, high = args.epochs
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        one_run("[csv,tensorboard,mlflow]", 1, work)  # warm the file cache and create the MLflow store
        for loggers in SETS:
            runs = {epochs: [one_run(loggers, epochs, work) for _ in range(args.repeats)] for epochs in (low, high)}
            at = {epochs: statistics.median(run[0] for run in runs[epochs]) for epochs in runs}
            per_epoch = (at[high] - at[low]) / (high - low)
            results[loggers] = {
                "per_epoch_ms": 1000 * per_epoch,
                "fixed_s": at[low] - low * per_epoch,
                "command_s": statistics.median(run[1] for run in runs[high]),
            }
    base = results["[csv]"]
    print(f"default Iris run, median of {args.repeats}; per epoch from {low} and {high} epochs")
    print(f"| logger | ms per epoch | x csv | fixed cost (s) | + vs csv (s) | command at {high} epochs (s) |")
    print("|---|---|---|---|---|---|")
    for loggers, row in results.items():
        print(
            f"| `logger={loggers}` | {row['per_epoch_ms']:.2f} | {row['per_epoch_ms'] / base['per_epoch_ms']:.2f} | "
            f"{row['fixed_s']:.2f} | {row['fixed_s'] - base['fixed_s']:+.2f} | {row['command_s']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
