"""Writing a record so that a reader never finds half of it, and a full disk is one sentence.

`write_atomic` writes to a temporary file beside the target and renames it over the target, so
the target is either the old file or the new one, never a truncated mix, whatever stops the write
(kill -9, a full disk). A failed write removes its temporary file. Checkpoints
(`SafeCheckpointIO.save_checkpoint`) and summary.json (`records.summary.write_summary`) go
through it. When the disk is full even for a small summary, `overwrite_in_place` rewrites the
existing summary.json within the blocks it already has, so the record still ends final.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | memoryview) -> Path:
    """Write `data` to `path` by a temporary file in the same directory and a rename."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def overwrite_in_place(path: str | Path, data: bytes) -> bool:
    """Rewrite the existing file at `path` with `data` padded with spaces to its size, without
    allocating a block more; False when there is no such file or `data` does not fit in it."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        return False
    if len(data) + 1 > size:
        return False
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(descriptor, data + b" " * (size - 1 - len(data)) + b"\n", 0)
    finally:
        os.close(descriptor)
    return True


class DiskFull(Exception):
    """A run stopped by a full disk, said in one sentence (`disk_full_sentence`); exit status 1."""


def disk_full(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) is a full disk or an exceeded quota."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_sentence(run_dir: str | Path, last: str | None) -> str:
    """The one sentence a run stopped by a full disk ends with."""
    kept = f"{last} is intact" if last else "no checkpoint was written"
    resume = f"; free space, then resume with ckpt_path={last}" if last else "; free space and run it again"
    return f"the disk holding {run_dir} is full (no space left to write the run's records); {kept}{resume}."
