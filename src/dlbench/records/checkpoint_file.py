"""What the file system alone says of a checkpoint path: no torch, so `train.py` says it before torch.

A path that is empty, missing, a directory, an empty file or not a zip archive cannot be a
checkpoint; each is one sentence naming the path and what to do. `dlbench.config.early` asks
before torch is imported (a refusal in about a second instead of ten); `dlbench.run.checkpoints`
asks again when it reads the file, then checks the archive's entries and its pickle.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any


def file_problem(path: Any, key: str = "ckpt_path", evaluating: bool = False, archive: bool = False) -> str | None:
    """The sentence for a path that cannot be a checkpoint, or None. `key`: the config key the path came
    from; `evaluating`: `train=false` asked for it; `archive`: also whether the file is a zip archive
    at all (its last bytes: the entries and the pickle are `dlbench.run.checkpoints`' to check)."""
    text = "" if path is None else str(path)
    if not text.strip():
        if evaluating and path is None:
            return (
                "train=false evaluates a checkpoint, but ckpt_path is not set; add "
                "ckpt_path=<run dir>/checkpoints/best.ckpt."
            )
        return (
            f"{key}= is empty; give a checkpoint file, e.g. {key}=<run dir>/checkpoints/last.ckpt to resume "
            f"or .../best.ckpt to evaluate, or leave {key} out to start afresh."
        )
    file = Path(text).expanduser()
    if not file.exists():
        return f"{key}={text} does not exist; give the path of a .ckpt file, e.g. <run dir>/checkpoints/last.ckpt."
    if file.is_dir():
        found = sorted(str(found) for found in [*file.glob("*.ckpt"), *file.glob("checkpoints/*.ckpt")])
        hint = f"e.g. {key}={found[-1]}" if found else f"e.g. {key}={file}/checkpoints/last.ckpt"
        return f"{key}={text} is a directory, not a checkpoint file; give a .ckpt file in it, {hint}."
    if file.stat().st_size == 0:
        return (
            f"{key}={text} is an empty file (written by a run that was killed while saving it?); "
            "use the other checkpoint of that run (best.ckpt or last.ckpt)."
        )
    if archive:
        try:
            is_archive = zipfile.is_zipfile(file)
        except OSError as error:
            return unreadable(key, text, f"the system could not read it: {error.strerror or 'an input/output error'}")
        if not is_archive:
            return unreadable(key, text, "not a zip archive written by torch.save")
    return None


def unreadable(key: str, text: str, reason: str) -> str:
    """The sentence for a file that is not a checkpoint that can be read, `reason` in words."""
    return (
        f"{key}={text} is not a readable checkpoint: {reason}, so it is truncated, damaged or not a .ckpt file; "
        "use the other checkpoint of that run (best.ckpt or last.ckpt)."
    )
