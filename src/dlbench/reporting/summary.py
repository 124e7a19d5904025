"""`summary.json`: what a run did, in one file a person or a sweep report can read."""

from __future__ import annotations

import functools
import json
import math
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"


@functools.cache
def package_versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers of a run (once per process: every job of
    an in-process sweep has the same)."""
    found = {}
    for package in ("torch", "pytorch-lightning", "hydra-core", "torchmetrics", "dlbench"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


@functools.cache
def git_commit(directory: str | Path) -> str | None:
    """The project's commit (with '-dirty' for uncommitted changes), or None outside git; asked
    once per process, like the code it describes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def best_epoch(history: list[dict[str, float]], monitor: str, mode: str) -> dict[str, float] | None:
    """The epoch row with the best value of `monitor` (None if it was never measured)."""
    rows = [row for row in history if monitor in row and math.isfinite(row[monitor])]
    if not rows:
        return None
    pick = min if mode == "min" else max
    return pick(rows, key=lambda row: row[monitor])


def clean_for_json(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings a person can read."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: clean_for_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_for_json(item) for item in value]
    return value


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write summary.json by rename (a reader never sees half a file). On a full disk the summary is
    written without its indentation over the one already there, in its blocks, so it still ends final."""
    from dlbench.run.atomic import disk_full, overwrite_in_place, write_atomic

    path = Path(run_dir) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(clean_for_json(summary), indent=2, default=str) + "\n").encode()
    try:
        return write_atomic(path, data)
    except OSError as error:
        compact = json.dumps(clean_for_json(summary), default=str).encode()
        if disk_full(error) and overwrite_in_place(path, compact):
            return path
        raise


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / SUMMARY_FILE).read_text())
