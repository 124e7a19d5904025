"""What each of dlbench's framework patches buys, measured: every case with the patch on and off.

    python benchmarks/patches.py                 # all cases, 3 repetitions, medians
    python benchmarks/patches.py --repeats 5 --cases mirror

Each patch in `dlbench.runtime` can be switched off with `DLBENCH_RUNTIME_OFF=<name>`; the buffered
checkpoint is switched for Lightning's `ModelCheckpoint` with two overrides. Every command is a
fresh process, the settings taken in turn within each repetition (so a slow spell of a shared
machine hits them alike), and the table reports medians and the share of the time each patch
saves. A patch whose gain is under about 5% of a real run is a candidate for removal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import RESULTS, launch  # noqa: E402

LIGHTNING_CHECKPOINT = [
    "callbacks.model_checkpoint._target_=pytorch_lightning.callbacks.ModelCheckpoint",
    "~callbacks.model_checkpoint.flush_every_s",
]
QUIET = ["logger=[]", "callbacks.pictures.enabled=false", "test=false"]
# case -> (command after `python`, {setting: (DLBENCH_RUNTIME_OFF, extra overrides)})
CASES = {
    "help": (
        ["train.py", "--help"],
        {
            "all on": ("", []),
            "config_store off": ("config_store", []),
            "group_options off": ("group_options", []),
            "all off": ("all", []),
        },
    ),
    "multirun": (
        ["train.py", "-m", "optimizer.lr=0.1,0.09,0.08,0.07,0.06,0.05,0.04,0.03,0.02", "trainer.max_epochs=1", *QUIET],
        {"all on": ("", []), "sweep_configs off": ("sweep_configs", []), "all off": ("all", [])},
    ),
    "iris": (
        ["train.py", "trainer.max_epochs=200", *QUIET],
        {
            "all on": ("", []),
            "hook_name off": ("hook_name", []),
            "publish off": ("publish", []),
            "progress_state off": ("progress_state", []),
            "ModelCheckpoint": ("", LIGHTNING_CHECKPOINT),
        },
    ),
    "mirror": (
        ["train.py", "dataset=mirror_symmetry", "model.hidden=[2]", "trainer.max_epochs=2000", *QUIET],
        {
            "all on": ("", []),
            "hook_name off": ("hook_name", []),
            "publish off": ("publish", []),
            "progress_state off": ("progress_state", []),
            "ModelCheckpoint": ("", LIGHTNING_CHECKPOINT),
        },
    ),
}


def measure(case: str, repeats: int, threads: int, workdir: Path) -> dict[str, list[float]]:
    command, settings = CASES[case]
    times: dict[str, list[float]] = {name: [] for name in settings}
    for repeat in range(repeats):
        for name, (off, extra) in settings.items():
            where = workdir / f"{case}-{name.replace(' ', '_')}-{repeat}"
            dirs = [f"hydra.sweep.dir={where}"] if "-m" in command else [f"hydra.run.dir={where}"]
            argv = [sys.executable, *command, *extra, *([] if "--help" in command else dirs)]
            wall, _, _, _ = launch(argv, threads, timeout=900, extra_env={"DLBENCH_RUNTIME_OFF": off})
            times[name].append(wall)
            print(f"{case:8s} {name:20s} {wall:7.2f} s", flush=True)
    return times


def table(results: dict[str, dict[str, list[float]]]) -> str:
    lines = ["| case | setting | median s | patch saves |", "|---|---|---|---|"]
    for case, times in results.items():
        on = statistics.median(times["all on"])
        for name, values in times.items():
            value = statistics.median(values)
            saves = "" if name == "all on" else f"{(value - on) / value:+.0%} of {value:.2f} s"
            lines.append(f"| {case} | {name} | {value:.2f} | {saves} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        results = {case: measure(case, args.repeats, args.threads, Path(workdir)) for case in args.cases}
    text = table(results)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "patches.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
