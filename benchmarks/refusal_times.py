"""How long a refusal takes as a user sees it: `python train.py <bad input>` in a fresh process, wall time.

Runs every bad input of tests/test_refusals.py and tests/test_refusals_fuzzed.py once, one after
another, and prints the median, the 90th percentile and the slowest of the wall time, with the
machine's load average before and after (a refusal on a loaded machine waits for the CPU like
anything else), and the same of the CPU time each process used (what it costs a quiet machine).

With `--torch`, also a few refusals that need torch and Lightning imported or the data read
(`monitor=val/foo`, a callback target of dlbench's that is a function, a checkpoint whose pickle is
cut short),
reported apart as `needing_torch`.

    python benchmarks/refusal_times.py [--torch] [--json out.json]
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
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def cases() -> list[str]:
    from test_refusals import BAD_INPUTS
    from test_refusals_fuzzed import CASES

    return [arguments for arguments, _ in [*BAD_INPUTS, *CASES]]


# Refusals that need torch and Lightning imported, or the data read (`--torch`): reported apart, since
# "under 1.5 s" is the promise for refusals that need neither. `{scratch}` is a folder for the case's files.
TORCH_CASES = [
    "monitor=val/foo",
    "callbacks.model_checkpoint.monitor=val/x",
    "+callbacks.x._target_=dlbench.errors.require",
    "+callbacks.x._target_=pytorch_lightning.callbacks.NoSuch",
    "train=false ckpt_path={scratch}/bad_pickle.ckpt",
]


def _run(arguments: str, index: int, scratch: str) -> dict:
    argv = arguments.replace("{scratch}", scratch).split()
    key = "hydra.sweep.dir" if "-m" in argv else "hydra.run.dir"
    if not any(item.startswith("hydra.run.dir=") for item in argv):
        argv.append(f"{key}={scratch}/{index}")
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    clean = result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    return {"arguments": arguments, "seconds": seconds, "cpu_s": cpu, "exit": result.returncode, "clean": clean}


def _statistics(rows: list[dict]) -> dict:
    times = sorted(row["seconds"] for row in rows)
    cpu = sorted(row["cpu_s"] for row in rows)
    return {
        "cases": len(rows),
        "clean": sum(row["clean"] for row in rows),
        "median_s": statistics.median(times),
        "p90_s": times[int(0.9 * (len(times) - 1))],
        "max_s": times[-1],
        "under_1.5_s": sum(seconds < 1.5 for seconds in times),
        # CPU seconds (user + system) of each refusal's process: what it costs on a quiet machine, whatever the load
        "cpu_median_s": statistics.median(cpu),
        "cpu_p90_s": cpu[int(0.9 * (len(cpu) - 1))],
        "cpu_max_s": cpu[-1],
        "cpu_under_1.5_s": sum(seconds < 1.5 for seconds in cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--torch", action="store_true", help="also the refusals that need torch or the data")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(Path(scratch, "bad_pickle.ckpt"), "w") as archive:  # a zip whose pickle is cut short
            archive.writestr("archive/data.pkl", b"\x80\x02}q\x00(X\x01")
        rows = [_run(arguments, index, scratch) for index, arguments in enumerate(cases())]
        torch_cases = TORCH_CASES if args.torch else []
        torch_rows = [_run(arguments, 1000 + index, scratch) for index, arguments in enumerate(torch_cases)]
    report = {
        **_statistics(rows),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        **({"needing_torch": _statistics(torch_rows)} if torch_rows else {}),
        "rows": rows + torch_rows,
    }
    print(json.dumps({key: value for key, value in report.items() if key != "rows"}, indent=1))
    for row in rows + torch_rows:
        if not row["clean"]:
            print("not clean:", row)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
