"""The run's record on disk while it trains, so a hard kill (kill -9, the OOM killer, a lost node)
leaves what ran, not only `.hydra/` and an empty log.

At an epoch's end (its row made, its checkpoints taken), at most `every_s` seconds (1 s) after the
last time, and at every epoch whose end changed a checkpoint file on disk:

- every logger's buffered rows are saved: `metrics.csv` has the rows so far on disk (Lightning's
  CSV logger otherwise writes every 100 rows and at the end);
- `summary.json` says `status: running`, with the epochs run, the last row, the best so far,
  where `last.ckpt` stands and which process is running it. The final summary replaces it when
  the run ends in any way Python sees (completed, diverged, interrupted, failed).

So the record on disk is never more than a second behind the run, and never behind the
`last.ckpt` a resume starts from (what a kill loses after it, the resume trains again). Every
epoch (`every_s=0`, as this callback did before) cost a 256-member population a summary and a
CSV write per member per epoch: 22% of its fit (docs/populations.md). TensorBoard's writer
flushes every 120 s and Lightning's CSV logger every 100 rows; one second keeps what a person
watching a run sees live.

A `running` summary whose process is gone is a run that was killed: `python -m dlbench.report`
reports it as `lost` (see `dlbench.records.claim.is_live`), and its `last.ckpt` resumes it.

The running summary is small and of the same size every time (the per-epoch history is in
metrics.csv, not repeated in it), so a 2,000-epoch run does not write a quadratic amount of
JSON. It is created once by rename, then rewritten in place with one `pwrite`, padded with spaces
to the largest it has been: a rename over an existing file makes ext4 flush the file's data
(about 3 ms each time on the project's machine, a third of a mirror-symmetry epoch), a write
into the page cache costs microseconds and survives a kill the same way. The final summary
replaces it by rename when the run ends.

On resume, the rows restored from the checkpoint are logged again first, so the resumed run's
metrics.csv (and W&B run) holds the whole run, each epoch once, whichever directory it is in.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from dlbench.callbacks.checkpoint import last_checkpoint, recorded_checkpoints
from dlbench.records.summary import SUMMARY_FILE, Best, Summary, write_summary

EVERY_S = 1.0  # the most seconds the record on disk is behind the run (module docstring)


class _InPlaceJSON:
    """summary.json for a run under way: made by rename, then rewritten in place (module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.descriptor: int | None = None
        self.size = 0

    def write(self, summary: Summary) -> None:
        if self.descriptor is None:
            write_summary(self.path.parent, summary)  # the first one whole, by rename
            self.descriptor = os.open(self.path, os.O_WRONLY)
            self.size = self.path.stat().st_size
            return
        data = summary.to_json(indent=None)
        padded = data[:-1] + b" " * max(0, self.size - len(data)) + b"\n"  # JSON ends in whitespace
        os.pwrite(self.descriptor, padded, 0)
        self.size = max(self.size, len(padded))

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None


class RunRecord(pl.Callback):
    """See the module docstring. Its `on_train_epoch_end` must run after the LightningModule's,
    where the epoch's row is made: it is carried by `RecordingRunGuard`, which Lightning calls
    with the checkpoint callbacks, after the module."""

    def __init__(
        self,
        output_dir: str | Path,
        monitor: str,
        mode: str,
        overrides: Sequence[str] = (),
        every_s: float | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.monitor, self.mode = monitor, mode
        self.every_s = EVERY_S if every_s is None else every_s
        self.best: dict[str, float] | None = None
        self._written_at = -math.inf  # time.monotonic() of the last write
        self._written_files: tuple[Any, ...] | None = None  # the checkpoint files it named then
        self._process = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self._overrides = list(overrides)
        self._file = _InPlaceJSON(self.output_dir / SUMMARY_FILE)
        self._run_dir = str(self.output_dir.resolve())

    def _better(self, row: dict[str, float]) -> bool:
        value = row.get(self.monitor)
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        best = self.best[self.monitor]
        return value < best if self.mode == "min" else value > best

    @staticmethod
    def _files(checkpoint: Any) -> tuple[Any, ...]:
        """What the summary says of the checkpoint files: it is written again whenever this changes."""
        last = getattr(checkpoint, "last_model_path", None)
        on_disk = getattr(checkpoint, "on_disk", None)  # BufferedCheckpoint's: where each file it wrote stands
        return getattr(checkpoint, "best_model_path", None), last, on_disk.get(last) if on_disk else None

    def write_running(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save the loggers' rows, then write the running summary (now, whether due or not)."""
        for logger in trainer.loggers:
            logger.save()
        history = getattr(pl_module, "history", None) or []
        checkpoint = trainer.checkpoint_callback
        best = self.best
        self._written_at, self._written_files = time.monotonic(), self._files(checkpoint)
        summary = Summary.running(
            process=self._process,
            overrides=self._overrides,
            run_dir=self._run_dir,
            last_row=history[-1] if history else {},
            epochs_run=len(history),
            best=Best(epoch=int(best["epoch"]), metric=self.monitor, value=best[self.monitor]) if best else None,
            checkpoints=recorded_checkpoints(checkpoint),
            last_checkpoint=last_checkpoint(checkpoint),
            updated=time.time(),
        )
        self._file.write(summary)

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
        self.write_running(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        self.epoch_end(trainer, pl_module)

    def epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, now: bool = False) -> None:
        """The epoch's row counted; the record written when due (module docstring), or `now` (a
        population's member whose training ended while the population trains on)."""
        history = getattr(pl_module, "history", None) or []
        if history and self._better(history[-1]):
            self.best = history[-1]
        due = now or time.monotonic() - self._written_at >= self.every_s
        if due or self._files(trainer.checkpoint_callback) != self._written_files:
            self.write_running(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._file.close()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._file.close()
