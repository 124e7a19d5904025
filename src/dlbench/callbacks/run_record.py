"""The run's record on disk after every epoch, so a hard kill (kill -9, the OOM killer, a lost
node) leaves what ran, not only `.hydra/` and an empty log.

After each epoch's end (its row made, its checkpoints taken):

- every logger's buffered rows are saved: `metrics.csv` has that epoch's row on disk (Lightning's
  CSV logger otherwise writes every 100 rows and at the end);
- `summary.json` says `status: running`, with the epochs run, the last row, the best so far,
  where `last.ckpt` stands and which process is running it. The final summary replaces it when
  the run ends in any way Python sees (completed, diverged, interrupted, failed).

A `running` summary whose process is gone is a run that was killed: `python -m dlbench.report`
reports it as `lost` (see `dlbench.run.claim.is_live`), and its `last.ckpt` resumes it.

The running summary is small and of the same size every epoch (the per-epoch history is in
metrics.csv, not repeated in it), so a 2,000-epoch run writes about 1 kB an epoch, not a
quadratic amount of JSON. It is created once by rename, then rewritten in place with one
`pwrite` an epoch, padded with spaces to the largest it has been: a rename over an existing file
makes ext4 flush the file's data (about 3 ms each time on the project's machine, a third of a
mirror-symmetry epoch), a write into the page cache costs microseconds and survives a kill the
same way. The final summary replaces it by rename when the run ends.

On resume, the rows restored from the checkpoint are logged again first, so the resumed run's
metrics.csv (and W&B run) holds the whole run, each epoch once, whichever directory it is in.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from dlbench.callbacks.checkpoint import last_checkpoint
from dlbench.reporting.summary import SUMMARY_FILE, clean_for_json, write_summary


class _InPlaceJSON:
    """summary.json for a run under way: made by rename, then rewritten in place (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor: int | None = None
        self.size = 0

    def write(self, summary: dict[str, Any], encoded: bytes | None = None) -> None:
        """Write `summary` (`encoded`: the same, already as JSON bytes, for the in-place writes)."""
        if self.descriptor is None:
            write_summary(self.path.parent, summary)  # the first one whole, by rename
            self.descriptor = os.open(self.path, os.O_WRONLY)
            self.size = self.path.stat().st_size
            return
        data = encoded if encoded is not None else json.dumps(clean_for_json(summary), default=str).encode()
        padded = data + b" " * max(0, self.size - 1 - len(data)) + b"\n"  # JSON ends in whitespace
        os.pwrite(self.descriptor, padded, 0)
        self.size = max(self.size, len(padded))

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


def _encode(parts: dict[str, Any]) -> str:
    """JSON of a dict's items, without the braces; NaN and infinity as strings, as in summary.json."""
    try:
        text = json.dumps(parts, allow_nan=False, default=str)
    except ValueError:
        text = json.dumps(clean_for_json(parts), default=str)
    return text[1:-1]


class RunRecord(pl.Callback):
    """See the module docstring. Its `on_train_epoch_end` must run after the LightningModule's,
    where the epoch's row is made: it is carried by `RecordingRunGuard`, which Lightning calls
    with the checkpoint callbacks, after the module."""

    def __init__(self, output_dir: str | Path, monitor: str, mode: str, overrides: Sequence[str] = ()) -> None:
        self.output_dir = Path(output_dir)
        self.monitor, self.mode = monitor, mode
        self.best: dict[str, float] | None = None
        self._process = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self._overrides = list(overrides)
        self._file = _InPlaceJSON(self.output_dir / SUMMARY_FILE)
        self._fixed: dict[str, Any] | None = None
        self._fixed_json = ""

    def _better(self, row: dict[str, float]) -> bool:
        value = row.get(self.monitor)
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        best = self.best[self.monitor]
        return value < best if self.mode == "min" else value > best

    def write_running(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        history = getattr(pl_module, "history", None) or []
        last = history[-1] if history else {}
        checkpoint = trainer.checkpoint_callback
        best = self.best
        changing = {
            "epochs_run": len(history),
            "metrics": {
                split: {key.split("/", 1)[1]: value for key, value in last.items() if key.startswith(split + "/")}
                for split in ("train", "val")
            },
            "best": {"epoch": int(best["epoch"]), "metric": self.monitor, "value": best[self.monitor]}
            if best
            else None,
            "best_epoch": int(best["epoch"]) if best else None,
            "last_checkpoint": last_checkpoint(checkpoint),
            "checkpoints": {
                "best": getattr(checkpoint, "best_model_path", None) or None,
                "last": getattr(checkpoint, "last_model_path", None) or None,
            },
            "updated": time.time(),
        }
        if self._fixed is None:  # what stays the same all run long, encoded once
            self._fixed = {
                "status": "running",
                "stop_reason": None,
                "process": self._process,
                "history_file": "metrics.csv",
                "overrides": self._overrides,
                "run_dir": str(self.output_dir.resolve()),
            }
            self._fixed_json = _encode(self._fixed)
        encoded = f"{{{self._fixed_json}, {_encode(changing)}}}".encode()
        self._file.write({**self._fixed, **changing}, encoded)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        history = getattr(pl_module, "history", None) or []
        self.best = None
        for row in history:  # rows restored from a checkpoint: into the loggers again, each once
            if self._better(row):
                self.best = row
            for logger in trainer.loggers:
                logger.log_metrics(row, step=int(row["epoch"]))
        for logger in trainer.loggers:
            logger.save()
        self.write_running(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        history = getattr(pl_module, "history", None) or []
        if history and self._better(history[-1]):
            self.best = history[-1]
        for logger in trainer.loggers:
            logger.save()
        self.write_running(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._file.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._file.close()
