"""Lightning's learning-rate finder always draws its own tqdm bar; here it follows the trainer's.

`pytorch_lightning.tuner.lr_finder` creates `tqdm(desc="Finding best initial lr", ...)` with a
hard-coded refresh rate, whether or not the trainer has a progress bar, and tqdm redraws with
carriage returns: in a log file `tune=lr` leaves one line holding every redraw. While the finder
runs, the module's `tqdm` is replaced by: nothing when the trainer has no progress bar
(`trainer.enable_progress_bar=false`), tqdm itself on a terminal, and whole lines
(`LineProgress`) when standard error is a file. Restored afterwards.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl

from dlbench.callbacks.progress import LineProgress
from dlbench.progress_label import is_terminal
from dlbench.runtime import enabled


class _Silent:
    def update(self, count: int = 1) -> None: ...

    def close(self) -> None: ...


@contextmanager
def lr_finder_progress(trainer: pl.Trainer, every_s: float = 30.0) -> Iterator[None]:
    from pytorch_lightning.tuner import lr_finder

    if not enabled("lr_finder_progress"):
        yield
        return
    original = lr_finder.tqdm
    if trainer.progress_bar_callback is None:
        replacement: Any = lambda *args, **kwargs: _Silent()  # noqa: E731
    elif is_terminal(sys.stderr):
        replacement = original
    else:
        replacement = functools.partial(LineProgress, every_s=every_s)
    lr_finder.tqdm = replacement
    try:
        yield
    finally:
        lr_finder.tqdm = original
