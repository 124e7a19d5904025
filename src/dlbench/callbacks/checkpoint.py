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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.trainer import call
from torch import Tensor


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(value) for value in obj)
    return 0


def _weight_bytes(checkpoint: dict[str, Any]) -> int:
    """Bytes of the weights and optimizer state: all a checkpoint holds that grows with the model
    (the rest, the config and the loops' counters, is a few kB however big the model)."""
    return _tensor_bytes(checkpoint.get("state_dict", {})) + _tensor_bytes(checkpoint.get("optimizer_states", []))


_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


def _snapshot(obj: Any, memo: dict[int, Any]) -> Any:
    """A copy of a checkpoint that the next training step cannot change: `copy.deepcopy`'s result
    for what checkpoints hold (tensors, dicts, lists, tuples, numbers, strings), made in a fraction
    of its time. As in `deepcopy`, an object met twice is copied once (tied weights stay one
    tensor; best and last saved in one hook share everything but the callbacks' state); dicts keep
    their type and attributes (a state dict's `_metadata`); numbers and strings cannot change and
    are shared; anything else is deep-copied."""
    kind = type(obj)
    if kind in _ATOMS:
        return obj
    if id(obj) in memo:
        return memo[id(obj)]
    if kind is Tensor:
        copied: Any = obj.detach().clone()
    elif kind is dict:
        copied = {key: _snapshot(value, memo) for key, value in obj.items()}
    elif kind is list:
        copied = [_snapshot(value, memo) for value in obj]
    elif kind is tuple:
        copied = tuple([_snapshot(value, memo) for value in obj])
    elif isinstance(obj, dict):
        copied = copy.copy(obj)  # same type and instance attributes, e.g. a state dict's _metadata
        for key, value in obj.items():
            copied[key] = _snapshot(value, memo)
    else:
        return copy.deepcopy(obj, memo)
    memo[id(obj)] = copied
    return copied


class BufferedCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose writes are batched in time; see the module docstring."""

    def __init__(
        self,
        *args: Any,
        flush_every_s: float = 60.0,
        buffer_mb: float = 256.0,
        unchanging: tuple[str, ...] = ("dlbench_config", "dlbench_overrides", "dlbench_choices"),
        **kwargs: Any,
    ) -> None:
        """`unchanging`: top-level checkpoint entries nothing alters during training (the run's
        config), held by reference instead of copied every epoch."""
        super().__init__(*args, **kwargs)
        self.unchanging = tuple(unchanging)
        self.flush_every_s = flush_every_s
        self.buffer_bytes = buffer_mb * 2**20
        self._pending: dict[str, dict[str, Any]] = {}
        self._written: set[str] = set()
        self._last_flush = time.monotonic()
        self._this_save: dict[str, Any] | None = None  # inside one saving hook: its dump and copies

    # Lightning saves best.ckpt, then last.ckpt, in one call of these hooks, at the same step: the two
    # checkpoints differ only in this callback's own state (`last_model_path` is set in between).
    # The second is therefore the first with the callbacks' state taken again, not a second
    # `dump_checkpoint` (which walks every loop's progress counters: most of a tiny model's save).
    @contextmanager
    def _one_saving_hook(self) -> Iterator[None]:
        self._this_save = {"memo": {}}
        try:
            yield
        finally:
            self._this_save = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with self._one_saving_hook():
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with self._one_saving_hook():
            super().on_validation_end(trainer, pl_module)

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, Tensor]:
        """`ModelCheckpoint`'s candidates, without deep-copying every callback metric each epoch.
        The copy exists so that a metric updated in place later cannot change a kept best score;
        the monitored value is the only one kept, so it alone is cloned."""
        candidates = dict(trainer.callback_metrics)
        if self.monitor in candidates:
            candidates[self.monitor] = candidates[self.monitor].clone()
        epoch, step = candidates.get("epoch"), candidates.get("step")
        candidates["epoch"] = epoch.int() if isinstance(epoch, Tensor) else torch.tensor(trainer.current_epoch)
        candidates["step"] = step.int() if isinstance(step, Tensor) else torch.tensor(trainer.global_step)
        return candidates

    def _dump(self, trainer: pl.Trainer) -> dict[str, Any]:
        """What `dump_checkpoint` returns now (see the comment above)."""
        first = self._this_save.get("checkpoint") if self._this_save is not None else None
        if first is None:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)
            if self._this_save is not None:
                self._this_save["checkpoint"] = checkpoint
            return checkpoint
        checkpoint = dict(first)
        if not self.save_weights_only:
            checkpoint["callbacks"] = call._call_callbacks_state_dict(trainer)
            call._call_callbacks_on_save_checkpoint(trainer, checkpoint)
        call._call_lightning_module_hook(trainer, "on_save_checkpoint", checkpoint)
        return checkpoint

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        checkpoint = self._dump(trainer)
        write_now = (
            filepath not in self._written
            or time.monotonic() - self._last_flush >= self.flush_every_s
            or _weight_bytes(checkpoint) > self.buffer_bytes
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
            # (one copy of each tensor serves both checkpoints of one hook)
            memo = self._this_save["memo"] if self._this_save is not None else {}
            memo.update({id(checkpoint[key]): checkpoint[key] for key in self.unchanging if key in checkpoint})
            self._pending[filepath] = _snapshot(checkpoint, memo)

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
