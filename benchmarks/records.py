"""What the crash-safe record costs per epoch, measured inside the run.

    python benchmarks/records.py                       # mirror symmetry, 2,000 epochs, 3 runs
    python benchmarks/records.py --case iris --epochs 200 --repeats 5
    python benchmarks/records.py --against ../main     # the whole fit there and here, alternating

Two things are written at an epoch's end, at most a second apart and whenever a checkpoint file
was written: the rows of metrics.csv (`EpochCSVLogger`, saved by the record) and the running
summary.json (`RunRecord.on_train_epoch_end`, which decides whether it is due). Each is timed
with a stopwatch around it inside the run, so the number does not drown in how busy a shared
machine is; the table gives their time per epoch against the whole fit's time per epoch. It also
counts the bytes of running summary the run wrote in all: that must grow linearly with the
epochs (the running summary does not repeat the history), not quadratically.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "mirror": ["dataset=mirror_symmetry", "model.hidden=[2]", "model.activation=sigmoid", "optimizer.lr=0.5"],
    "iris": [],
}

CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(1)  # as benchmarks/run.py: a second thread on a shared 2-core machine mostly waits
sys.path.insert(0, {tests!r})
from conftest import compose_config
import dlbench.callbacks.run_record as run_record
import dlbench.loggers.csv_logger as csv_logger
from dlbench.run import execute
spent = {{"record": 0.0, "csv": 0.0, "bytes": 0}}
def timed(name, function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started
    return wrapper
run_record.RunRecord.on_train_epoch_end = timed("record", run_record.RunRecord.on_train_epoch_end)
csv_logger._AppendingWriter.save = timed("csv", csv_logger._AppendingWriter.save)
original = run_record._InPlaceJSON.write
def counting(self, summary):
    original(self, summary)
    spent["bytes"] += self.path.stat().st_size
run_record._InPlaceJSON.write = counting
cfg = compose_config({overrides!r}, __import__("pathlib").Path({run_dir!r}))
datamodule, task, trainer = execute.build(cfg)
started = time.perf_counter()
trainer.fit(task, datamodule=datamodule)
fit = time.perf_counter() - started
out = {{"fit_s": fit, "record_s": spent["record"], "csv_s": spent["csv"], "summary_bytes": spent["bytes"],
        "epochs": len(task.history)}}
print(json.dumps(out))
"""


FIT_ONLY = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, {src!r}); sys.path.insert(0, {tests!r})
from conftest import compose_config
from dlbench.run import execute
cfg = compose_config({overrides!r}, __import__("pathlib").Path({run_dir!r}))
datamodule, task, trainer = execute.build(cfg)
started = time.process_time()
trainer.fit(task, datamodule=datamodule)
print(json.dumps({{"cpu_s": time.process_time() - started, "epochs": len(task.history)}}))
"""


def fit_cpu_per_epoch(checkout: Path, overrides: list[str], run_dir: str) -> float:
    """CPU seconds per epoch of the fit, as the dlbench in `checkout` runs it."""
    code = FIT_ONLY.format(
        src=str(checkout / "src"), tests=str(checkout / "tests"), overrides=overrides, run_dir=run_dir
    )
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=checkout, capture_output=True, text=True, check=True, env=environment
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return out["cpu_s"] / out["epochs"]


def run_once(overrides: list[str], run_dir: str) -> dict[str, float]:
    code = CHILD.format(tests=str(ROOT / "tests"), overrides=overrides, run_dir=run_dir)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=sorted(CASES), default="mirror")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--against",
        type=Path,
        help="another dlbench checkout (e.g. ../main, before these records): the whole fit's CPU time per "
        "epoch there and here, runs alternating",
    )
    args = parser.parse_args()
    if args.against is not None:
        compare(args)
        return
    overrides = [*CASES[args.case], f"trainer.max_epochs={args.epochs}", "callbacks.pictures.enabled=false"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            results.append(run_once(overrides, f"{scratch}/{repeat}"))

    def per_epoch(key: str) -> list[float]:
        return [1e6 * result[key] / result["epochs"] for result in results]

    def line(label: str, values: list[float], unit: str = "us per epoch") -> None:
        print(f"  {label:<44} {statistics.median(values):8.0f} {unit}  {[round(value) for value in values]}")

    print(f"case {args.case}, {args.epochs} epochs, {args.repeats} runs (medians; each run's value in brackets):")
    line("running summary.json (RunRecord)", per_epoch("record_s"))
    line("metrics.csv row (EpochCSVLogger save)", per_epoch("csv_s"))
    line("whole fit", per_epoch("fit_s"))
    share = [(result["record_s"] + result["csv_s"]) / result["fit_s"] for result in results]
    print(f"  {'share of the fit (both)':<44} {100 * statistics.median(share):8.1f} %")
    written = results[-1]["summary_bytes"]
    print(f"  {'running summary bytes written in all':<44} {written:8d} ({written / args.epochs:.0f} per epoch)")


def compare(args: argparse.Namespace) -> None:
    overrides = [*CASES[args.case], f"trainer.max_epochs={args.epochs}", "callbacks.pictures.enabled=false"]
    times: dict[str, list[float]] = {"there": [], "here": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            for side, checkout in (("there", args.against.resolve()), ("here", ROOT)):
                times[side].append(fit_cpu_per_epoch(checkout, overrides, f"{scratch}/{side}{repeat}"))
    there, here = statistics.median(times["there"]), statistics.median(times["here"])
    print(
        f"case {args.case}, {args.epochs} epochs, {args.repeats} runs each, alternating (CPU ms per epoch of the fit):"
    )
    print(f"  {args.against}: {1e3 * there:.3f}  {[round(1e3 * value, 3) for value in times['there']]}")
    print(f"  {ROOT}: {1e3 * here:.3f}  {[round(1e3 * value, 3) for value in times['here']]}")
    print(f"  ratio here / there: {here / there:.3f}")


if __name__ == "__main__":
    main()
