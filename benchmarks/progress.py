"""What the progress bar costs: the Iris and mirror-symmetry runs in a terminal, bar on and off.

    python benchmarks/progress.py                 # 3 repetitions of each, medians
    python benchmarks/progress.py --quick         # tiny settings: checks the benchmark itself works

Each run is `python train.py ...` in a fresh process whose output is a pseudo-terminal, so Rich
draws its bar exactly as for a person at a terminal (`trainer.enable_progress_bar=null`, the
default); the other side is the same command with `trainer.enable_progress_bar=false`. The sides
alternate, so slow spells of a shared machine hit both alike. Reported: the run's own wall time
(`wall_time_s` of summary.json: build, fit, test) and the whole command's CPU seconds (its
rusage: the training thread and Rich's redrawing thread together), medians, and the bar's cost
as a share of each; and the bar's own seconds measured inside the run (benchmarks/bar_timer.py:
its hooks, its redraws, starting and stopping it) as a share of that run's wall time. On a busy
machine two whole commands swing by tens of percent between repetitions, more than the bar
costs; the measured share does not swing with them, and is what the target (under 5%) is
judged on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.05


def cases(quick: bool) -> dict[str, list[str]]:
    """The benchmark's Iris and mirror cases (benchmarks/cases.py), as a user types them."""
    return {
        "iris_mlp": [f"trainer.max_epochs={5 if quick else 200}"],
        "mirror_symmetry": [
            "dataset=mirror_symmetry",
            "model.hidden=[2]",
            "model.activation=sigmoid",
            "optimizer.lr=0.5",
            f"trainer.max_epochs={20 if quick else 2000}",
        ],
    }


def in_terminal(command: list[str], timeout: float = 1800, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """Run `command` with a pseudo-terminal as its stdout and stderr; return (exit status, output, CPU s)."""
    import pty

    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(path for path in paths if path),
        "PYTHONUNBUFFERED": "1",
        "WANDB_MODE": "offline",
        "TERM": "xterm",
        **(env or {}),
    }
    if "CI" not in (env or {}):
        environment.pop("CI", None)
    master, slave = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, stdout=slave, stderr=slave, env=environment)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    else:
        process.kill()
    os.close(master)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu_s = usage.ru_utime + usage.ru_stime  # the command's own CPU seconds: what a busy machine does not blur
    return process.returncode, b"".join(chunks).decode(errors="replace"), cpu_s


def one_run(overrides: list[str], bar: bool, workdir: Path) -> dict[str, float]:
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    switch = [] if bar else ["trainer.enable_progress_bar=false"]
    timer = run_dir / "bar_timer.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bar_timer.py"), str(timer), str(ROOT / "train.py")]
    command += [*overrides, *switch, f"hydra.run.dir={run_dir}"]
    started = time.perf_counter()
    status, output, cpu_s = in_terminal(command, env={"OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {status}:\n{output[-3000:]}")
    if bar and not re.search(r"epoch \d+/\d+", output):
        raise RuntimeError("the bar was not drawn: the measurement would compare nothing")
    summary = json.loads((run_dir / "summary.json").read_text())
    run_s = float(summary["wall_time_s"])
    bar_s = float(json.loads(timer.read_text())["bar_s"])
    return {"run_s": run_s, "command_s": wall, "cpu_s": cpu_s, "bar_s": bar_s, "bar_share": bar_s / run_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=None)
    args = parser.parse_args()
    chosen = {name: spec for name, spec in cases(args.quick).items() if not args.cases or name in args.cases}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, overrides in chosen.items():
            times: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for _ in range(args.repeats):
                for bar in (False, True):
                    times[bar].append(one_run(overrides, bar, Path(work)))
            median = {
                bar: {key: statistics.median(t[key] for t in runs) for key in runs[0]} for bar, runs in times.items()
            }
            cost = median[True]["run_s"] / median[False]["run_s"] - 1
            cpu_cost = median[True]["cpu_s"] / median[False]["cpu_s"] - 1
            share = median[True]["bar_share"]
            rows.append(
                f"| {name} | {median[False]['run_s']:.2f} | {median[True]['run_s']:.2f} | {cost:+.1%} "
                f"| {median[False]['cpu_s']:.1f} | {median[True]['cpu_s']:.1f} | {cpu_cost:+.1%} "
                f"| {median[True]['bar_s']:.3f} | {share:.1%} | {'yes' if share < TARGET else 'NO'} |"
            )
    print(
        f"progress bar cost, medians of {args.repeats}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        "| case | run s, bar off | run s, bar on | wall cost | CPU s, off | CPU s, on | CPU cost "
        "| bar's own s | share of the run | under 5% |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
