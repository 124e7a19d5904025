"""Best and last checkpoints that cost a tiny model almost nothing per epoch, and the one owner
of `last.ckpt`.

Lightning's `ModelCheckpoint` writes `best.ckpt` whenever the monitored metric improves. On Iris
that is a `torch.save` + fsync + rename per epoch, about 10 ms: more than the epoch's arithmetic,
and paid hundreds of times in a sweep.

`BufferedCheckpoint` decides what goes into `best.ckpt` exactly as `ModelCheckpoint` does (same
files, same `best_model_path`, same checkpoint contents), but keeps a snapshot in memory and
writes it to disk:

- at once the first time each file is saved (so `best.ckpt` exists early in every run),
- whenever `flush_every_s` seconds have passed since the last write (a crash loses at most that),
- at the end of training, and when training stops on an exception (Ctrl-C, SIGTERM, divergence).

A checkpoint larger than `buffer_mb` is written through at once, as `ModelCheckpoint` would,
so big models never hold a second copy of their weights in memory.

`last.ckpt` is this callback's alone, and means one thing: the latest state training can go on
from. On disk it is the end of the epoch at which it was last written (the first epoch, then
every `flush_every_s`), and at the end of the run its final state; when Ctrl-C or SIGTERM stops
training between two steps (see `graceful_stop`), the state at that moment, written at once; on
a divergence or an error, the later of the last write and the last epoch where `best.ckpt` was
taken (the last state known to be worth going on from). (Before, a second callback wrote
`last.ckpt` on an interrupt and this one then flushed its older copy over it: an interrupted
run's `last.ckpt` was an epoch where the best value had last improved.) `positions` and
`on_disk` say which epoch and step each file holds, for `summary.json`.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.trainer import call
from torch import Tensor

from dlbench.records.summary import Checkpoints
from dlbench.runtime.lightning import plain_progress_state

plain_progress_state()  # every checkpoint dumps the loops' counters (runtime/lightning.py)


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


def _entry(checkpoint: dict[str, Any], dotted: str) -> Any:
    """`checkpoint["a"]["b"]` for "a.b", or None."""
    value: Any = checkpoint
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def position(trainer: pl.Trainer) -> dict[str, Any]:
    """Where training stands, as a checkpoint taken now holds it: the epoch it is inside or at the
    end of (its row's `epoch` in metrics.csv), the global step, and whether the epoch is done."""
    fit = trainer.fit_loop
    epochs = fit.epoch_progress.current
    batches = fit.epoch_loop.batch_progress.current.completed
    per_epoch = trainer.num_training_batches
    end_of_epoch = per_epoch not in (0, float("inf")) and batches >= per_epoch
    finished = end_of_epoch and epochs.completed == epochs.ready  # its end hooks ran, the next has not begun
    return {
        "epoch": int(epochs.completed - 1 if finished else epochs.completed),
        "step": int(trainer.global_step),
        "end_of_epoch": bool(end_of_epoch),
    }


def _moved_paths(state: dict[str, Any], old: Path, new: Path) -> dict[str, Any] | None:
    """`ModelCheckpoint`'s state with its files copied from `old` into `new`; None if the best is gone."""
    best = state.get("best_model_path") or ""
    if not best or not Path(best).is_file():
        return None

    def move(path: str) -> str:
        path_ = Path(path)
        return str(new / path_.relative_to(old)) if path and path_.is_relative_to(old) else path

    new.mkdir(parents=True, exist_ok=True)
    for path in {best, *state.get("best_k_models", {})}:
        if Path(path).is_file() and not Path(move(path)).exists():
            shutil.copy2(path, move(path))
    moved = dict(state)
    moved["dirpath"] = str(new)
    moved["best_model_path"] = move(best)
    moved["kth_best_model_path"] = move(state.get("kth_best_model_path") or "")
    moved["last_model_path"] = move(state.get("last_model_path") or "")
    moved["best_k_models"] = {move(path): score for path, score in (state.get("best_k_models") or {}).items()}
    return moved


class BufferedCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose writes are batched in time; see the module docstring."""

    def __init__(
        self,
        *args: Any,
        flush_every_s: float = 60.0,
        buffer_mb: float = 256.0,
        unchanging: tuple[str, ...] = (
            "dlbench_config",
            "dlbench_overrides",
            "dlbench_choices",
            "dlbench_task.history",
            "loops",
        ),
        **kwargs: Any,
    ) -> None:
        """`unchanging`: checkpoint entries (dotted for nested ones) that nothing alters once they
        are in a checkpoint (the run's config; the list of the epochs' rows, made anew for each
        checkpoint from rows that are never changed; the loops' state, fresh dicts of numbers made
        by each `dump_checkpoint`, tested in tests/test_runtime.py), held by reference instead of
        copied: the loops' hundred small dicts were most of a tiny model's snapshot."""
        super().__init__(*args, **kwargs)
        self.unchanging = tuple(unchanging)
        self.positions: dict[str, dict[str, Any]] = {}  # file -> the epoch and step its latest copy holds
        self.on_disk: dict[str, dict[str, Any]] = {}  # file -> the epoch and step the file on disk holds
        self._last_step_of_last = -1  # the step last.ckpt was last taken at
        self._last_due = False  # an epoch ended since: last.ckpt is to be taken at the next write
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
            if self._should_save_on_train_epoch_end(trainer):
                self._save_last_every_epoch(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with self._one_saving_hook():
            super().on_validation_end(trainer, pl_module)
            if not self._should_save_on_train_epoch_end(trainer):
                self._save_last_every_epoch(trainer)

    def _save_last_every_epoch(self, trainer: pl.Trainer) -> None:
        """At every epoch's end, `last.ckpt` is due (Lightning 2.6 takes it only when it takes
        `best.ckpt`). Taken now when the file is about to be written (the first time, or when
        `flush_every_s` has passed), so what reaches the disk is this epoch's end; otherwise only
        marked due, and taken when the run ends or a flush comes: a checkpoint per epoch would
        cost a tiny model a tenth of its training (a `dump_checkpoint` on Iris, about 0.5 ms)."""
        if (
            not self.save_last
            or trainer.fast_dev_run
            or trainer.state.fn != "fit"
            or trainer.sanity_checking
            or self._last_step_of_last == trainer.global_step
        ):
            return
        path = self.format_checkpoint_name(self._monitor_candidates(trainer), self.CHECKPOINT_NAME_LAST)
        if path not in self._written or time.monotonic() - self._last_flush >= self.flush_every_s:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        else:
            self._last_due = True

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
        self.positions[filepath] = position(trainer)
        if filepath == self.last_model_path:
            self._last_step_of_last = trainer.global_step
            self._last_due = False
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
            for key in self.unchanging:
                held = _entry(checkpoint, key)
                if held is not None:
                    memo[id(held)] = held
            self._pending[filepath] = _snapshot(checkpoint, memo)

    def _write(self, trainer: pl.Trainer, filepath: str, checkpoint: dict[str, Any]) -> None:
        trainer.strategy.save_checkpoint(checkpoint, filepath)
        self._written.add(filepath)
        if filepath in self.positions:
            self.on_disk[filepath] = self.positions[filepath]
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
        if self._last_due and not trainer.fast_dev_run:  # the run's final state, not its last best epoch
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self.flush(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Ctrl-C or SIGTERM (`SystemExit`: Lightning's `SIGTERMException`, raised between two
        steps, or after an epoch's end): `last.ckpt` from the state now, written with the rest.
        A bare KeyboardInterrupt (a second Ctrl-C) may come inside a step, and a divergence or an
        error leaves weights not worth going on from: `last.ckpt` stays the last epoch's end.
        Under DDP only the epoch's end is kept (each process's epoch sums are its own)."""
        super().on_exception(trainer, pl_module, exception)
        if (
            isinstance(exception, SystemExit)
            and self.save_last
            and trainer.state.fn == "fit"
            and not trainer.sanity_checking
            and not trainer.fast_dev_run
            and trainer.world_size == 1
            and trainer.global_step > 0
        ):
            self._this_save = {"memo": {}}
            try:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            finally:
                self._this_save = None
        self.flush(trainer)

    def _remove_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        self._pending.pop(filepath, None)
        self.positions.pop(filepath, None)
        self.on_disk.pop(filepath, None)
        super()._remove_checkpoint(trainer, filepath)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resuming from another run directory's checkpoint: that run's best so far comes along.

        `ModelCheckpoint` would keep only `best_model_path`, pointing into the other directory (the
        test at the end could then load the other run's best.ckpt), and warn that the directory
        changed. Here the best checkpoint is copied into this run's directory and every path is
        moved with it, so the resumed run's directory holds the whole run's best, and only a better
        epoch replaces it. If the other run's best.ckpt is gone, the best so far starts afresh.
        """
        theirs = state_dict.get("dirpath")
        if not theirs or self.dirpath is None or Path(theirs) == Path(self.dirpath):
            super().load_state_dict(state_dict)
            return
        moved = _moved_paths(state_dict, Path(theirs), Path(self.dirpath))
        if moved is None:
            return  # nothing to carry over: the best so far starts afresh here
        super().load_state_dict(moved)


def recorded_checkpoints(callback: Any) -> Checkpoints:
    """summary.json's `checkpoints`: the paths of best.ckpt and last.ckpt the callback has written
    (for a run alone, a run under way and a population's member alike)."""
    return Checkpoints(
        best=getattr(callback, "best_model_path", None) or None,
        last=getattr(callback, "last_model_path", None) or None,
    )


def last_checkpoint(callback: Any) -> dict[str, Any] | None:
    """`{"path", "epoch", "step", "end_of_epoch"}` of the `last.ckpt` on disk now, for summary.json
    (while a run goes on, the file a kill would leave; at its end, every copy is written)."""
    path = getattr(callback, "last_model_path", None)
    position = (getattr(callback, "on_disk", {}) or {}).get(path) if path else None
    if not position:
        return None
    return {"path": path, **position}
