"""Best and last checkpoints that cost a tiny model almost nothing per epoch.

Lightning's `ModelCheckpoint` writes `best.ckpt` whenever the monitored metric improves and
`last.ckpt` after every epoch. On Iris that is one or two `torch.save` + fsync + rename per epoch,
about 10 ms: more than the epoch's arithmetic, and paid hundreds of times in a sweep.

`BufferedCheckpoint` decides *what* to save exactly as `ModelCheckpoint` does (same files, same
`best_model_path`, `last_model_path`, same checkpoint contents), but keeps a snapshot in memory
and writes it to disk:

- at once the first time each file is saved (so `best.ckpt` exists early in every run),
- whenever `flush_every_s` seconds have passed since the last write (a crash loses at most that),
- at the end of training, and when training stops on an exception (Ctrl-C, SIGTERM, divergence).

A checkpoint larger than `buffer_mb` is written through at once, as `ModelCheckpoint` would,
so big models never hold a second copy of their weights in memory.
"""

from __future__ import annotations

import copy
import time
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(value) for value in obj)
    return 0


class BufferedCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose writes are batched in time; see the module docstring."""

    def __init__(self, *args: Any, flush_every_s: float = 60.0, buffer_mb: float = 256.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flush_every_s = flush_every_s
        self.buffer_bytes = buffer_mb * 2**20
        self._pending: dict[str, dict[str, Any]] = {}
        self._written: set[str] = set()
        self._last_flush = time.monotonic()

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)
        write_now = (
            filepath not in self._written
            or time.monotonic() - self._last_flush >= self.flush_every_s
            or _tensor_bytes(checkpoint) > self.buffer_bytes
        )
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if write_now:
            self._pending.pop(filepath, None)
            self._write(trainer, filepath, checkpoint)
            if time.monotonic() - self._last_flush >= self.flush_every_s:
                self.flush(trainer)
        else:
            # the state dicts hold live tensors that the next step changes in place: copy them
            self._pending[filepath] = copy.deepcopy(checkpoint)

    def _write(self, trainer: pl.Trainer, filepath: str, checkpoint: dict[str, Any]) -> None:
        trainer.strategy.save_checkpoint(checkpoint, filepath)
        self._written.add(filepath)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def flush(self, trainer: pl.Trainer) -> None:
        """Write every checkpoint held in memory."""
        pending, self._pending = self._pending, {}
        for filepath, checkpoint in pending.items():
            self._write(trainer, filepath, checkpoint)
        self._last_flush = time.monotonic()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.flush(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        self.flush(trainer)

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        self._pending.pop(filepath, None)
        super()._remove_checkpoint(trainer, filepath)
