"""The progress bar: Rich's in a terminal, nothing (or, asked for, one plain line per update) in a file.

Shown by default where a person watches: `trainer.enable_progress_bar=null` (the default) means
on when standard output is a terminal and no CI service runs the command (`CI` set), off in a log
file, a pipe or CI. `true` or `false` decides it either way (`wants_progress`).

A progress bar redraws itself with carriage returns; in a log file (`python train.py > train.log`,
a SLURM or submitit job's output, `nohup`) every redraw is appended to the same line, and a long
run leaves one line of megabytes, or, with Rich, nothing at all until the end. When standard
output is not a terminal, `LineProgressBar` writes one ordinary line per update instead: one per
epoch with its metrics and time, plus a line every `every_s` seconds inside a long epoch.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

from dlbench.terminal import watching
from dlbench.terminal.watching import is_terminal, wants_progress

SHOWN = ("train/loss", "train/acc", "val/loss", "val/acc")


class EpochBar(RichProgressBar):
    """Rich's bar, one per epoch, with the run's main metrics and, in a sweep or a population,
    which job or members it shows (`dlbench.terminal.watching`). Epochs count from 1, as the
    line bar and the records' `epoch` column do.

    Two rates, measured apart (benchmarks/progress.py, docs/performance.md):
    - Epochs are drawn at most `draws_per_s` (2) times a second. A 2,000-epoch run of one batch
      per epoch updated Rich's tasks 8,000 times in 40 s, and every task reset redraws the bar
      at once in the training thread; Lightning's 100 redraws a second cost a mirror run about
      half its time. An epoch that is not drawn skips all of its bar hooks, so a drawn epoch
      always shows its own numbers.
    - `refresh_rate` (20) is how often Lightning's drawing thread looks for a pending redraw. It
      sleeps `1 / refresh_rate` between looks, and stopping the bar (after the fit and after the
      test) waits for that sleep to end: at Lightning's and Rich's usual 4 that wait was 0.1-0.3 s
      of a 3.5 s Iris run; at 20 it is at most 0.05 s, and a look that finds nothing to draw costs
      a few microseconds."""

    def __init__(self, refresh_rate: int = 20, draws_per_s: float = 2.0, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.draws_per_s = draws_per_s
        self._drawing = True
        self._clocks: dict[str, float] = {}

    def _due(self, trainer: pl.Trainer, clock: str) -> bool:
        """Whether `1 / draws_per_s` has passed on `clock` (always on the last epoch and the first draw)."""
        now = time.monotonic()
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        due = now - self._clocks.get(clock, 0.0) >= 1 / self.draws_per_s
        if last_epoch or self.train_progress_bar_id is None or due:
            self._clocks[clock] = now
            return True
        return False

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._drawing = self._due(trainer, "epoch")  # decides the epoch's other hooks too
        if self._drawing:
            super().on_train_epoch_start(trainer, pl_module)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # inside a drawn epoch, a long one still moves its bar at most `draws_per_s` times a second
        if self._drawing and self._due(trainer, "batch"):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._drawing:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit" or self._drawing:
            super().on_validation_end(trainer, pl_module)
        else:
            self.reset_dataloader_idx_tracker()

    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """No validation bar inside a fit: Lightning adds a new Rich task at every validation and only
        hides the old one, so Rich walks one more task per epoch at every redraw (a 2,000-epoch run
        spent most of its bar's cost there); the val metrics are on the epoch's bar."""
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            return
        super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)

    def _get_train_description(self, current_epoch: int) -> str:
        total = f"/{self.trainer.max_epochs}" if self.trainer.max_epochs and self.trainer.max_epochs > 0 else ""
        where = watching.label()
        return f"{where + ' · ' if where else ''}epoch {current_epoch + 1}{total}"

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        metrics = trainer.callback_metrics
        return {key: f"{float(metrics[key]):.4g}" for key in SHOWN if key in metrics}


class LineProgress:
    """`update()` / `close()` like tqdm, but each report is a whole line, at most one per `every_s`."""

    def __init__(self, desc: str, total: int | None, every_s: float = 30.0, stream: TextIO | None = None) -> None:
        self.desc, self.total, self.every_s = desc, total, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.count = 0
        self.started = self.last = time.monotonic()
        self.closed = False

    def _line(self) -> str:
        of = f"/{self.total}" if self.total else ""
        return f"{self.desc}: {self.count}{of} steps, {time.monotonic() - self.started:.1f} s"

    def update(self, count: int = 1) -> None:
        self.count += count
        if self.total is not None and self.count >= self.total:
            self.close()  # Lightning's lr finder closes its bar only when the loss diverges
            return
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            print(self._line(), file=self.stream, flush=True)


class LineProgressBar(ProgressBar):
    """Lightning's progress bar contract, reported as whole lines (for log files)."""

    def __init__(self, every_s: float = 30.0, stream: TextIO | None = None) -> None:
        super().__init__()
        self.every_s = every_s
        self._stream = stream
        self._enabled = True
        self._epoch_started = self._last_line = 0.0
        self._pending: tuple[str, float] | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _print(self, line: str) -> None:
        if self._enabled:
            print(line, file=self.stream, flush=True)

    def _epoch_name(self, trainer: pl.Trainer) -> str:
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        return f"epoch {trainer.current_epoch + 1}{total}"

    # An epoch's line is written when the next epoch starts (or training ends): Lightning calls the
    # callbacks' on_train_epoch_end before the task's, which publishes the epoch's training metrics.
    def _flush(self, trainer: pl.Trainer) -> None:
        if self._pending is None:
            return
        name, elapsed = self._pending
        self._pending = None
        metrics = trainer.callback_metrics
        shown = [f"{key} {float(metrics[key]):.4g}" for key in SHOWN if key in metrics]
        self._print(f"{name}: " + ", ".join([*shown, f"{elapsed:.2f} s"]))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)
        self._epoch_started = self._last_line = time.monotonic()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.monotonic()
        if now - self._last_line < self.every_s:
            return
        self._last_line = now
        total = self.total_train_batches
        of = f"/{total}" if isinstance(total, int) else ""
        self._print(f"{self._epoch_name(trainer)}: step {batch_idx + 1}{of}, {now - self._epoch_started:.1f} s")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pending = (self._epoch_name(trainer), time.monotonic() - self._epoch_started)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._flush(trainer)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print(f"testing: {sum(trainer.num_test_batches)} batches done")


def progress_bar(enabled: bool | None = None, every_s: float = 30.0) -> pl.Callback:
    """Rich's progress bar in a terminal (Lightning's own choice), whole lines in a file.

    `enabled` follows `trainer.enable_progress_bar` (None: `wants_progress`): a switched-off
    callback is left out of the trainer, as Lightning refuses a progress bar callback when the bar is off.
    """
    if is_terminal(sys.stdout):
        try:
            import rich  # noqa: F401

            bar: ProgressBar = EpochBar()
        except ImportError:
            bar = TQDMProgressBar()
    else:
        bar = LineProgressBar(every_s=every_s)
    bar.enabled = wants_progress(enabled)
    return bar


def population_bar(enabled: bool | None, members: int) -> pl.Callback | None:
    """The bar of a population's one Trainer (None where no bar is wanted), labelled with its size.

    The population's fit says how many members are done with
    `watching.set_label(f"population of {n}, {done} done")` whenever that changes."""
    if not wants_progress(enabled):
        return None
    watching.set_label(f"population of {members}")
    return progress_bar(enabled=True)
