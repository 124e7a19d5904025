"""A run directory belongs to one run: claimed before anything is written into it.

Two runs given the same `hydra.run.dir` used to write into each other's files (run A ended with
B's summary, B crashed on A's metrics.csv). Now a run takes `<run dir>/run.lock` with an
exclusive `flock` before Hydra writes `.hydra/` (Hydra calls `on_run_start` first; see
`ClaimRunDir`) and holds it for as long as its process lives. The kernel lets go of the lock when
the process ends in any way, kill -9 and the OOM killer included, so the lock also answers
"is the run that wrote this directory still going?" (`is_live`), which is how
`python -m dlbench.report` tells a run that is `running` from one that is `lost`.

A second run into a directory whose run is live is refused; into a directory that already holds
a run's record (summary.json, metrics.csv or a checkpoint) it is refused too, unless it resumes
that run from one of the directory's own checkpoints (`ckpt_path=<run dir>/checkpoints/last.ckpt`).
Only the process of rank 0 claims: the other processes of a DDP job run in the same directory.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from dlbench.errors import ConfigError
from dlbench.records.summary import SUMMARY_FILE, whole_summary

try:
    import fcntl
except ImportError:  # Windows: no flock; directories are then not claimed
    fcntl = None

LOCK_FILE = "run.lock"
RECORD_FILES = (SUMMARY_FILE, "metrics.csv")

_held: dict[str, int] = {}  # resolved directory -> the descriptor holding its lock, for the process's life


class RunDirTaken(ConfigError):
    """The run directory belongs to another run."""


def process_rank() -> int:
    """This process's rank in a distributed job (0 when there is none)."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 0


def holds_record(run_dir: Path) -> bool:
    """Whether the directory already has a run's record in it."""
    return any((run_dir / name).exists() for name in RECORD_FILES) or any((run_dir / "checkpoints").glob("*.ckpt"))


def _owner(run_dir: Path) -> str:
    try:
        info = json.loads((run_dir / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}"


def _status(run_dir: Path) -> str:
    summary = whole_summary(run_dir)
    if summary is None:
        return "a run's files"
    return f"a {summary.status} run of {summary.epochs_run} epochs"


def _inside(path: Any, run_dir: Path) -> bool:
    if path is None or not str(path).strip():
        return False
    try:
        return Path(str(path)).expanduser().resolve().is_relative_to(run_dir)
    except OSError:
        return False


def claim(
    run_dir: str | Path,
    ckpt_path: Any = None,
    train: bool = True,
    key: str = "hydra.run.dir",
    any_record: bool = False,
) -> Path | None:
    """Take `run_dir` for this process, or raise `RunDirTaken` with one sentence.

    Returns the directory (created if need be), or None where nothing is claimed (a process of
    rank > 0, or no flock on this system). Claiming a directory this process holds is a no-op.
    `any_record`: take it whatever record it holds (the caller decides what to do with it).
    """
    directory = Path(run_dir).expanduser().resolve()
    if process_rank() != 0 or fcntl is None:
        return None
    if str(directory) in _held:
        return directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RunDirTaken(
            f"{key}={directory} cannot be written ({error.strerror or error}); give a directory you can write to."
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise RunDirTaken(
            f"{key}={directory} is in use by a run that is still going ({_owner(directory)}); give this run "
            f"its own directory (leave {key} out) or wait for that run to end."
        ) from None
    if not any_record and holds_record(directory) and not (train and _inside(ckpt_path, directory)):
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
        raise RunDirTaken(
            f"{key}={directory} already holds {_status(directory)}; give this run another directory, or "
            f"resume that run there with ckpt_path={directory}/checkpoints/last.ckpt."
        )
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "argv": sys.argv}
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps(owner).encode())
    _held[str(directory)] = descriptor
    return directory


def release(run_dir: str | Path) -> None:
    """Let go of a directory this process claimed (a sweep's job, once it is done)."""
    descriptor = _held.pop(str(Path(run_dir).expanduser().resolve()), None)
    if descriptor is not None and fcntl is not None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def is_live(run_dir: str | Path) -> bool | None:
    """True while the process that claimed `run_dir` lives, False once it is gone, None if unknown
    (the directory was never claimed, e.g. a run from before claims, or no flock here)."""
    directory = Path(run_dir)
    if str(directory.resolve()) in _held:
        return True
    lock = directory / LOCK_FILE
    if fcntl is None or not lock.exists():
        return None
    try:
        descriptor = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(descriptor)  # closing lets go of a lock this test took
    return False
