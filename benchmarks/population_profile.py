"""Where a population's fit spends its time: cProfile of `trainer.fit`, split into its parts.

    python benchmarks/population_profile.py                          # mirror symmetry, 256 members, 2,000 epochs
    python benchmarks/population_profile.py --case population_iris --epochs 50 --out /tmp/iris.pstats

Builds the members of a population case of the benchmark (benchmarks/population.py) as
`benchmarks/run.py` does, profiles its `trainer.fit` only (cProfile; building the members,
testing and writing each member's records after the fit are left out) and prints the fit split
into: the stacked step (forward and losses, backward, the stacked optimizer's update, Lightning's
per-step machinery), validation, the per-member records of each epoch's end (history rows,
loggers, early stopping, checkpoint callbacks and files, the running summary.json), Lightning's
per-epoch hooks and loop, and the top functions by own time. cProfile adds its own cost to every
Python call (the fit runs slower profiled than not), so read the shares, not the seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (part, [(file ending, function name or "name:line")]): a part's time is the cumulative time of its
# functions (none of a part's functions calls another of the same part); the parts not indented
# are the fit's top-level parts, the indented ones parts of the part above
PARTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("fit", [("pytorch_lightning/trainer/trainer.py", "_run")]),
    ("training batches (Lightning's training loop, per batch)", [("loops/training_epoch_loop.py", "advance")]),
    ("  forward, losses, epoch sums (training_step)", [("population/module.py", "training_step")]),
    ("  backward (and the hooks after it)", [("optimization/automatic.py", "backward_fn")]),
    ("  optimizer step, closure included", [("population/optimizers.py", "step")]),
    ("  the closure (forward and backward inside the step)", [("optimization/automatic.py", "closure")]),
    ("  the stacked update alone (the step less its closure)", []),
    ("  zero_grad", [("optimization/automatic.py", "zero_grad_fn")]),
    ("  next batch (members' indices, gathered batch)", [("loops/fetchers.py", "__next__")]),
    ("validation (Lightning's loop, all of it)", [("loops/evaluation_loop.py", "run")]),
    ("  validation_step", [("population/module.py", "validation_step")]),
    ("  on_validation_epoch_end (members' validation rows)", [("population/module.py", "on_validation_epoch_end")]),
    ("per-member records at each epoch's end (on_train_epoch_end)", [("population/module.py", "on_train_epoch_end")]),
    ("  the epoch sums as rows, training and validation (EpochTotals.rows)", [("tasks/epoch_totals.py", "rows")]),
    ("  loggers' log_metrics (metrics.csv rows)", [("lightning_fabric/loggers/csv_logs.py", "log_metrics:144")]),
    ("  early stopping", [("callbacks/early_stopping.py", "on_train_epoch_end")]),
    ("  best checkpoint decisions and saves (TopOnes.epoch_end)", [("population/checkpoints.py", "epoch_end")]),
    ("  last.ckpt due (MemberCheckpoints.last_due)", [("population/checkpoints.py", "last_due")]),
    ("  checkpoint snapshots and files (MemberCheckpoints.commit)", [("population/checkpoints.py", "commit")]),
    ("  running summary.json and the loggers saved (RunRecord.epoch_end)", [("callbacks/run_record.py", "epoch_end")]),
    ("  the trainer's view per member (MemberTrainer.refresh)", [("population/views.py", "refresh")]),
    (
        "fit start (on_fit_start, configure_optimizers)",
        [("population/module.py", "on_fit_start"), ("population/module.py", "configure_optimizers")],
    ),
    ("fit end (on_train_end: the due last.ckpt)", [("population/module.py", "on_train_end")]),
    ("everything else: Lightning's per-epoch hooks and loops, its setup and teardown", []),
]
TOP_LEVEL = [label for label, _ in PARTS[1:-1] if not label.startswith(" ")]


def _cumulative(stats: pstats.Stats, file_end: str, name: str) -> tuple[float, int]:
    name, _, line = name.partition(":")
    total, calls = 0.0, 0
    for (file, number, function), (_, ncalls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if line and number != int(line):
            continue
        if function == name and file.replace("\\", "/").endswith(file_end):
            total += cumulative
            calls += ncalls
    return total, calls


def breakdown(stats: pstats.Stats) -> list[tuple[str, float, int]]:
    """(part, seconds, calls) for each part of PARTS, the per-epoch remainder computed."""
    rows = []
    for label, functions in PARTS:
        found = [_cumulative(stats, file_end, name) for file_end, name in functions]
        rows.append((label, sum(s for s, _ in found), sum(c for _, c in found)))
    values = {label: seconds for label, seconds, _ in rows}
    at = {label: index for index, (label, _, _) in enumerate(rows)}
    alone = "  the stacked update alone (the step less its closure)"
    closure = values["  the closure (forward and backward inside the step)"]
    update = values["  optimizer step, closure included"] - closure
    rows[at[alone]] = (alone, update, rows[at["  optimizer step, closure included"]][2])
    remainder = values["fit"] - sum(values[label] for label in TOP_LEVEL)
    rows[-1] = (rows[-1][0], remainder, _cumulative(stats, "loops/fit_loop.py", "advance")[1])
    return rows


@contextlib.contextmanager
def _restored(owner: Any, name: str, value: Any) -> Iterator[None]:
    try:
        yield
    finally:
        setattr(owner, name, value)


# `--timers`: the same parts timed without cProfile (perf_counter around these methods only), so the
# parts of pure Python (pickling a checkpoint's history) are not slowed more than the rest
def _part(start: str) -> str:
    return next(label for label, _ in PARTS if label.startswith(start))


TIMED: list[tuple[str, str, str, str]] = [
    ("fit", "pytorch_lightning.trainer.trainer", "Trainer", "_run"),
    (_part("training batches"), "pytorch_lightning.loops.training_epoch_loop", "_TrainingEpochLoop", "advance"),
    (_part("  forward, losses"), "dlbench.population.module", "PopulationModule", "training_step"),
    (_part("validation ("), "pytorch_lightning.loops.evaluation_loop", "_EvaluationLoop", "run"),
    (_part("per-member records"), "dlbench.population.module", "PopulationModule", "on_train_epoch_end"),
    (_part("  loggers'"), "lightning_fabric.loggers.csv_logs", "CSVLogger", "log_metrics"),
    (_part("  best checkpoint"), "dlbench.population.checkpoints", "TopOnes", "epoch_end"),
    (_part("  checkpoint snapshots"), "dlbench.population.checkpoints", "MemberCheckpoints", "commit"),
    (
        "    of which writing checkpoint files (MemberCheckpoints._write)",
        "dlbench.population.checkpoints",
        "MemberCheckpoints",
        "_write",
    ),
    (_part("  running summary"), "dlbench.callbacks.run_record", "RunRecord", "epoch_end"),
]


@contextlib.contextmanager
def timers(totals: dict[str, list[float]]) -> Iterator[None]:
    """perf_counter around each method of TIMED, inside `Trainer.fit` only (not the test after it):
    `totals[part] = [seconds, calls]`."""
    import importlib

    import pytorch_lightning as pl

    inside = [False]
    fit = pl.Trainer.__dict__["fit"]

    def timed_fit(*a: Any, **k: Any) -> Any:
        inside[0] = True
        try:
            return fit(*a, **k)
        finally:
            inside[0] = False

    originals = [(pl.Trainer, "fit", fit)]
    pl.Trainer.fit = timed_fit  # type: ignore[method-assign]
    for label, module, owner, name in TIMED:
        cls = getattr(importlib.import_module(module), owner)
        original = cls.__dict__[name]
        totals[label] = [0.0, 0]

        def timed(*a: Any, _original: Any = original, _total: list[float] = totals[label], **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                if inside[0]:
                    _total[0] += time.perf_counter() - started
                    _total[1] += 1

        originals.append((cls, name, original))
        setattr(cls, name, timed)
    try:
        yield
    finally:
        for cls, name, original in originals:
            setattr(cls, name, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="population_mirror_256", help="a population case of benchmarks/run.py")
    parser.add_argument("--epochs", type=int, default=None, help="instead of the case's epochs")
    parser.add_argument("--out", type=Path, default=None, help="where to keep the raw profile (pstats)")
    parser.add_argument("--top", type=int, default=25, help="how many functions to list by own time")
    parser.add_argument(
        "--timers", action="store_true", help="time the main parts with perf_counter instead of cProfile"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="the members' run directories (default: temporary)")
    args = parser.parse_args(argv)

    import tempfile

    import pytorch_lightning as pl
    import torch

    from benchmarks.cases import training_cases
    from benchmarks.population import population_cases, run_population

    torch.set_num_threads(1)
    case = population_cases(False)[args.case]
    base = training_cases(False, None)[case["base"]]
    profiler = cProfile.Profile()
    fit = pl.Trainer.fit
    seen: dict[str, float] = {}

    def profiled_fit(self: pl.Trainer, *a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        profiler.enable()
        try:
            return fit(self, *a, **k)
        finally:
            profiler.disable()
            seen["fit_s"] = time.perf_counter() - started

    totals: dict[str, list[float]] = {}
    if not args.timers:
        pl.Trainer.fit = profiled_fit  # type: ignore[method-assign]
    with (
        tempfile.TemporaryDirectory(prefix="dlbench-profile-") as tmp,
        _restored(pl.Trainer, "fit", fit),
        timers(totals) if args.timers else contextlib.nullcontext(),
    ):
        spec = {
            **base,
            "epochs": args.epochs or base["epochs"],
            "seed": 42,
            "threads": 1,
            "workdir": str(args.workdir or tmp),
            "device": "cpu",
            "precision": "32",
            "compile": False,
            "members": case["members"],
        }
        result = run_population(spec)
    if args.timers:
        fit_s = totals["fit"][0]
        print(
            f"{args.case}: {result['members']} members, {result['epochs']} epochs, members run as "
            f"{result['mode']!r}; fit {fit_s:.2f} s wall (perf_counter around the parts, no cProfile)"
        )
        print()
        print("| part | seconds | share of the fit | calls |")
        print("|---|---|---|---|")
        for label, (seconds, calls) in totals.items():
            print(f"| {label} | {seconds:.2f} | {100 * seconds / fit_s:.1f}% | {calls} |")
        return 0
    stats = pstats.Stats(profiler)
    if args.out:
        stats.dump_stats(str(args.out))
    fit_s = seen["fit_s"]
    print(
        f"{args.case}: {result['members']} members, {result['epochs']} epochs, members run as {result['mode']!r}; "
        f"profiled fit {fit_s:.2f} s wall"
    )
    print()
    print("| part | seconds | share of the fit | calls |")
    print("|---|---|---|---|")
    profiled = None
    for label, seconds, calls in breakdown(stats):
        profiled = profiled or seconds  # the first row: the fit, as cProfile counts it
        print(f"| {label} | {seconds:.2f} | {100 * seconds / profiled:.1f}% | {calls} |")
    parts = {label: seconds for label, seconds, _ in breakdown(stats)}
    member_epochs = result["members"] * result["epochs"]
    records = parts["per-member records at each epoch's end (on_train_epoch_end)"]
    print()
    print(
        f"Per member and epoch ({member_epochs} in all): the records {1000 * records / member_epochs:.3f} ms, "
        f"the whole fit {1000 * profiled / member_epochs:.3f} ms (profiled)."
    )
    print()
    print(f"Top {args.top} functions by own time (tottime):")
    print()
    print("| function | own s | share | calls |")
    print("|---|---|---|---|")
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    for (file, line, function), (_, ncalls, own, _, _) in entries[: args.top]:
        where = "/".join(Path(file).parts[-2:]) if file != "~" else ""
        print(f"| `{where}:{line}({function})` | {own:.2f} | {100 * own / profiled:.1f}% | {ncalls} |")
    print(json.dumps({"fit_s": fit_s, "members": result["members"], "epochs": result["epochs"]}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
