"""Lightning callbacks of our own: only what Lightning's callbacks do not already do."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from lightning_fabric.plugins.io.checkpoint_io import CheckpointIO
from pytorch_lightning.callbacks import Checkpoint


class RunGuard(pl.Callback):
    """Keeps a run recoverable.

    - Stores the resolved config (plain containers), the command-line overrides and the option of
      each config group inside every checkpoint, so `train=false ckpt_path=...` rebuilds the same
      model and data without the original command line, and a refused resume can say which
      overrides would fit.
    - Makes every checkpoint Lightning reads for this Trainer (resume, test on the best
      checkpoint, the finders' restores) go through `dlbench.run.checkpoints`: weights-only,
      with one sentence for every mistake.
    - Carries the `parts` it is given (stopping between steps, the random state for an exact
      resume) as one callback: Lightning calls every hook of every callback at every step, which
      a tiny model pays for (about 3% of an epoch per callback), so the guard's parts share one.

    `last.ckpt`, also on Ctrl-C or SIGTERM, is `BufferedCheckpoint`'s alone (one owner: two
    writers of one file were how an interrupted run came to leave an older `last.ckpt`).
    """

    def __init__(
        self,
        config: dict[str, Any],
        checkpoint_dir: str | Path,
        parts: Sequence[pl.Callback] = (),
        overrides: Sequence[str] = (),
        choices: Mapping[str, str] | None = None,
        checkpoint_io: Callable[[], CheckpointIO] | None = None,
    ) -> None:
        self.config = config
        self.checkpoint_io = checkpoint_io  # the one door checkpoints are read through (run/checkpoints.py)
        self.overrides = list(overrides)  # the command line's, as typed
        self.choices = {group: option for group, option in (choices or {}).items() if "/" not in group}  # model: lenet
        self.checkpoint_dir = Path(checkpoint_dir)
        self.parts = list(parts)

    def _each(self, hook: str, *args: Any) -> None:
        for part in self.parts:
            getattr(part, hook)(*args)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning restores a checkpoint after the setup hooks, so this covers fit, test and the finders
        if self.checkpoint_io is not None and not isinstance(trainer.strategy.checkpoint_io, self.checkpoint_io):
            trainer.strategy.checkpoint_io = self.checkpoint_io()
        self._each("setup", trainer, pl_module, stage)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["dlbench_config"] = self.config
        checkpoint["dlbench_overrides"] = self.overrides
        checkpoint["dlbench_choices"] = self.choices
        self._each("on_save_checkpoint", trainer, pl_module, checkpoint)

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._each("on_load_checkpoint", trainer, pl_module, checkpoint)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._each("on_train_start", trainer, pl_module)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._each("on_validation_start", trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._each("on_validation_end", trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._each("on_train_epoch_end", trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._each("on_train_end", trainer, pl_module)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._each("on_exception", trainer, pl_module, exception)


class RecordingRunGuard(RunGuard, Checkpoint):
    """`RunGuard` that Lightning calls with the checkpoint callbacks: its epoch-end hook then runs
    after the LightningModule's, where the epoch's row is made, and after the checkpoints are
    taken, so the run's record (`RunRecord`, one of its parts) has both. It saves no checkpoint."""

    # `trainer.checkpoint_callback` is the first `Checkpoint`: this one, if a user turned the
    # checkpoint callback off; it then has no best or last checkpoint to name
    best_model_path = ""
    last_model_path = ""


def guard_callbacks(
    config: dict[str, Any],
    output_dir: str | Path,
    overrides: Sequence[str] = (),
    choices: Mapping[str, str] | None = None,
    checkpoint_io: Callable[[], CheckpointIO] | None = None,
) -> list[pl.Callback]:
    """The callback every run gets, whatever `callbacks=` says, carrying what a trustworthy record
    rests on: the config in every checkpoint and safe loading; stopping between steps; the random
    state in every checkpoint for an exact resume; the record on disk after every epoch.

    The per-epoch record is left out where the trainer has checkpointing turned off
    (`trainer.enable_checkpointing=false`), which Lightning refuses to combine with a `Checkpoint`
    callback; that run's record is written at its end only."""
    from dlbench.callbacks.graceful_stop import StopBetweenSteps
    from dlbench.callbacks.resume import ExactResume
    from dlbench.callbacks.run_record import RunRecord
    from dlbench.runtime.lightning_noise import quiet_lightning

    quiet_lightning()
    parts: list[pl.Callback] = [StopBetweenSteps(), ExactResume()]
    checkpoint_dir = Path(output_dir) / "checkpoints"
    if (config.get("trainer") or {}).get("enable_checkpointing", True) is False:
        return [RunGuard(config, checkpoint_dir, parts, overrides, choices, checkpoint_io)]
    monitor, mode = str(config.get("monitor", "val/loss")), str(config.get("monitor_mode", "min"))
    record = RunRecord(output_dir, monitor, mode, overrides)
    return [RecordingRunGuard(config, checkpoint_dir, [*parts, record], overrides, choices, checkpoint_io)]
