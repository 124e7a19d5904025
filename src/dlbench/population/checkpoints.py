"""Every member's best and last checkpoints, kept as stacked snapshots and written as its own files.

A member's checkpoint callback (the real `ModelCheckpoint`/`BufferedCheckpoint` of its config)
decides, through its `MemberTrainer` view, when `best.ckpt` and `last.ckpt` are saved, exactly as
in its standalone run. What a save keeps differs: not one `dump_checkpoint` per member per epoch
(on a tiny model that is most of an epoch, times the members) but

- the numbers, once per epoch for all members that saved: the members' slices of the stacked
  parameters (and of a `StackedOptimizer`'s state) are copied into a stacked snapshot per file
  name (`best.ckpt`, `last.ckpt`), one `index_copy_` per tensor; members stepped by their own
  optimizers (`MemberOptimizers`) keep a copy of its `state_dict()`;
- the small things, per save: the epoch, the global step, the loops' progress (the population's
  loops are the member's: same batches, same optimizer steps, same scheduler steps), the member's
  callbacks' state and its scheduler's state at that moment.

A file is made from these in Lightning's layout when it is written: the first time each file is
saved (so it exists early, as `BufferedCheckpoint` does), every `flush_every_s`, at the end and on
an exception. It holds what the member's standalone checkpoint holds (keys, state dict names,
optimizer state as its torch optimizer's `state_dict()`, callbacks' state, the config), so
`train=false ckpt_path=` and resuming read it as a normal run's.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from torch import Tensor

from dlbench.callbacks.checkpoint import BufferedCheckpoint, _snapshot, position
from dlbench.callbacks.resume import KEY as RANDOM_STATE
from dlbench.callbacks.resume import random_state
from dlbench.population.network import StackedNetwork
from dlbench.population.optimizers import MemberOptimizers, StackedOptimizer, StackedOptimizers
from dlbench.tasks import resume_state


@dataclass
class SavePoint:
    """What a member's checkpoint holds besides its tensors, as of the moment it was saved."""

    epoch: int
    global_step: int
    loops: dict[str, Any]
    callbacks: dict[str, Any] | LaterState  # LaterState: made when the file is written
    lr_schedulers: list[dict[str, Any]]
    rows: int  # the member's history rows at that moment (its rows are never changed, only added)
    random: dict[str, Any]  # the random state a run alone would have saved: the member's own torch generator
    position: dict[str, Any]  # the epoch and step it holds (`callbacks.checkpoint.position`), for summary.json
    data: dict[str, Any]  # its data module's state (`dataset.augment`'s draws), as Lightning keeps a run alone's


def _frozen(state: dict[str, Any]) -> dict[str, Any]:
    """The callbacks' state as it is now, cheaply: their dicts are copied (ModelCheckpoint's
    `best_k_models` changes in place); tensors are kept, since ModelCheckpoint and EarlyStopping
    replace their score tensors rather than change them."""
    return {key: _frozen(value) if isinstance(value, dict) else value for key, value in state.items()}


class TopOnes:
    """`ModelCheckpoint.on_train_epoch_end` for the one configuration a population allows
    (`save_top_k=1`, a fixed file name, every epoch, not verbose), decided for every member at once.

    It makes the decisions and state changes of Lightning's `check_monitor_top_k`,
    `_update_best_and_save` and `_save_last_checkpoint` for one kept checkpoint: a member saves
    best.ckpt, and last.ckpt with it, when its monitored value, as the float32 tensor Lightning
    compares, is below its best so far (above, in mode max). The first save of each member goes
    through Lightning's own methods, which name the files (with a version suffix when one exists
    already). After it the callback's state is a function of its best value alone (its best,
    current and kth scores and its one model's score are one tensor), so the members' best values
    are kept here as one (members,) tensor and put on a callback only when its state is read: a
    checkpoint file written (`state`) and the fit's end (`sync`). Calling every member's callback
    every epoch cost more than the epoch on a tiny model; the equivalence tests compare the files
    and the callbacks' state with a run alone's.
    """

    def __init__(self, pairs: list[tuple[Any, ModelCheckpoint]], store: MemberCheckpoints) -> None:
        self.members = [member for member, _ in pairs]
        self.callbacks = [callback for _, callback in pairs]
        self.store = store
        self.slots = {id(callback): slot for slot, callback in enumerate(self.callbacks)}
        self.sign = torch.tensor([1.0 if callback.mode == "min" else -1.0 for callback in self.callbacks])
        self.best = torch.full((len(pairs),), math.inf)  # sign x each best value so far: lower is better
        self.started = [False] * len(pairs)  # the member's first save made (by Lightning's methods)
        self.paths: list[tuple[str, str | None]] = [("", None)] * len(pairs)  # best.ckpt, last.ckpt or None

    @staticmethod
    def applies(callback: ModelCheckpoint) -> bool:
        return (
            type(callback) in (ModelCheckpoint, BufferedCheckpoint)
            and callback.monitor is not None
            and callback.save_top_k == 1
            and callback.save_last in (None, False, True)
            and not callback.verbose
            and not callback.save_weights_only
            and callback._every_n_epochs == 1
            and callback._every_n_train_steps == 0
            and callback._train_time_interval is None
            and callback.filename is not None  # None: Lightning's own name, "{epoch}-{step}"
            and "{" not in str(callback.filename)
        )

    def managing(self, callback: Any) -> int | None:
        """The callback's slot when its state is kept here (after its first save), else None."""
        slot = self.slots.get(id(callback))
        return slot if slot is not None and self.started[slot] else None

    def value(self, slot: int) -> float:
        """The member's best value so far, as its callback's `best_model_score` would hold it."""
        return float(self.sign[slot] * self.best[slot])

    def epoch_end(self, entries: list[tuple[int, Any, float, Callable[[], None]]], step: int) -> None:
        """This epoch's decisions: `entries` are (slot, the member's view, its monitored value, a
        function that puts its row into the view's metrics) of the members whose callbacks decide now."""
        later = []
        for entry in entries:
            slot = entry[0]
            if self.callbacks[slot]._last_global_step_saved == step:
                continue
            if self.started[slot]:
                later.append(entry)
            else:
                self._first(*entry)
        if not later:
            return
        slots = torch.tensor([entry[0] for entry in later])
        signed = torch.tensor([entry[2] for entry in later], dtype=torch.float32) * self.sign[slots]
        improved = signed < self.best[slots]  # NaN is never an improvement, as in check_monitor_top_k
        if not bool(improved.any()):
            return
        self.best[slots[improved]] = signed[improved]
        for k in improved.nonzero().flatten().tolist():
            slot, view, value, _ = later[k]
            best, last = self.paths[slot]
            self.store.save_best(self.members[slot], view, self.callbacks[slot], best, last, value)

    def _first(self, slot: int, view: Any, value: float, publish: Callable[[], None]) -> None:
        """The member's first save, by Lightning's own methods (on a resumed member its loaded best counts)."""
        callback = self.callbacks[slot]
        if callback.best_k_models:  # check_monitor_top_k with one model kept: only an improvement saves
            better = torch.lt if callback.mode == "min" else torch.gt
            if not bool(better(torch.tensor(value), callback.kth_value)):
                return
        publish()
        candidates = callback._monitor_candidates(view)
        callback._update_best_and_save(candidates[callback.monitor], view, candidates)
        if callback.save_last and callback._last_global_step_saved == view.global_step:
            callback._save_last_checkpoint(view, callback._monitor_candidates(view))
        self.paths[slot] = (callback.best_model_path, callback.last_model_path if callback.save_last else None)
        self.best[slot] = self.sign[slot] * float(callback.best_model_score)
        self.started[slot] = True

    def state(self, slot: int, score: float) -> dict[str, Any]:
        """The callback's `state_dict()` as it was when its best value was `score`: Lightning's own,
        after putting on it what `_update_best_and_save` leaves with one model kept."""
        callback, current, best = self.callbacks[slot], torch.tensor(score), self.paths[slot][0]
        callback.best_k_models = {best: current}
        callback.kth_best_model_path, callback.kth_value = best, current
        callback.best_model_path, callback.best_model_score, callback.current_score = best, current, current
        return _frozen(callback.state_dict())

    def sync(self) -> None:
        """Every callback's state as of now (the fit has ended: what reads a callback reads it)."""
        for slot, started in enumerate(self.started):
            if started:
                self.state(slot, self.value(slot))


@dataclass
class LaterState:
    """The callbacks' state of a save, made when its file is written: the checkpoint callback kept
    by `TopOnes` from its best value at the save (`score`), every other callback with a state as
    it was (`others`, by state key)."""

    score: float
    others: dict[str, Any]


def _epoch_completed(loops: dict[str, Any]) -> dict[str, Any]:
    """The loops' state of the end of an epoch (on_train_epoch_end) as it is once the fit loop has
    counted that epoch completed, which is all that differs at `on_train_end` (tested)."""
    fit = dict(loops["fit_loop"])
    progress = {key: dict(value) for key, value in fit["epoch_progress"].items()}
    for counts in ("total", "current"):
        progress[counts] = {**progress[counts], "completed": progress[counts]["completed"] + 1}
    fit["epoch_progress"] = progress
    return {**loops, "fit_loop": fit}


def checkpoint_callback(member: Any) -> ModelCheckpoint | None:
    for callback in member.callbacks:
        if isinstance(callback, ModelCheckpoint):
            return callback
    return None


class MemberCheckpoints:
    """The members' checkpoint files: see the module docstring."""

    def __init__(
        self,
        network: StackedNetwork,
        optimizer: StackedOptimizer | StackedOptimizers | MemberOptimizers,
        members: list[Any],
    ) -> None:
        self.network, self.optimizer, self.members = network, optimizer, members
        self.snapshots: dict[str, dict[str, Tensor]] = {}  # file name -> stacked copies
        self.optimizer_states: dict[tuple[int, str], dict[str, Any]] = {}  # (member, file name) -> its state_dict
        self.points: dict[tuple[int, str], SavePoint] = {}
        self.pending: dict[tuple[int, str], None] = {}  # written when flushed (insertion-ordered)
        self.written: set[str] = set()
        self.saved_now: list[tuple[int, str]] = []
        self._loops: tuple[int, int, dict[str, Any]] | None = None
        self._random: tuple[int, int, dict[str, Any], Any] | None = None
        callbacks = [checkpoint_callback(member) for member in members]
        first = callbacks[0]
        self.flush_every_s = float(getattr(first, "flush_every_s", 0.0)) if first is not None else 0.0
        self.buffer_bytes = float(getattr(first, "buffer_bytes", 0.0)) if isinstance(first, BufferedCheckpoint) else 0.0
        self._last_flush = time.monotonic()
        self._exists: dict[str, bool] = {}
        self._state_keys: dict[int, list[tuple[str, Any]]] = {}
        self._stateful: dict[int, list[tuple[str, Any]]] = {}  # member -> its callbacks with a state_dict
        self._bytes: float | None = None
        self._last_taken: dict[int, int] = {}  # member -> the step its last.ckpt was last taken at
        self._last_pending: dict[int, bool] = {}  # member -> an epoch ended since: last.ckpt is due
        self._ending = False  # recording a member's checkpoint of its training's end (`last_at_end`)
        self._last_point: dict[int, tuple[tuple[int, int, bool], dict[str, Any]]] = {}  # `record`'s shared part
        self._positions: tuple[tuple[int, int], dict[str, Any]] | None = None
        self._is_last: dict[str, bool] = {}  # file path -> it is a last.ckpt
        self._last_names: dict[int, str] = {}  # member -> its last.ckpt's file name
        self.top_ones: TopOnes | None = None  # the checkpoint callbacks whose state is kept there

    # -- what the callbacks call ----------------------------------------------------------------
    def attach(self, member: Any, view: Any) -> None:
        """Route the member's checkpoint callback's saves and removals here."""
        callback = checkpoint_callback(member)
        if callback is None:
            return

        last_name = os.path.basename(callback.format_checkpoint_name({}, callback.CHECKPOINT_NAME_LAST))

        def save(trainer: pl.Trainer, filepath: str) -> None:
            self.record(member, view, filepath)
            self._saved(member, callback, filepath, trainer.global_step, last_name)

        def exists(filepath: str, trainer: pl.Trainer) -> bool:
            return self.exists(filepath)

        self._last_names[member.index] = last_name

        def remove(trainer: pl.Trainer, filepath: str) -> None:
            self.pending.pop((member.index, filepath), None)
            self.points.pop((member.index, filepath), None)
            if filepath in self.written:
                trainer.strategy.remove_checkpoint(filepath)
                self.written.discard(filepath)
            self._exists[filepath] = False

        callback._save_checkpoint = save
        callback._remove_checkpoint = remove
        callback.file_exists = exists

    def _saved(self, member: Any, callback: ModelCheckpoint, filepath: str, step: int, last_name: str) -> None:
        """What the callback's own `_save_checkpoint` leaves behind besides the file, and last.ckpt's bookkeeping."""
        callback._last_global_step_saved = step
        callback._last_checkpoint_saved = filepath
        is_last = self._is_last.get(filepath)  # (string work made once: this runs per member per epoch)
        if is_last is None:
            is_last = self._is_last[filepath] = os.path.basename(filepath) == last_name
        if is_last:
            self._last_taken[member.index] = step
            self._last_pending[member.index] = False

    def save_best(
        self, member: Any, view: Any, callback: ModelCheckpoint, best: str, last: str | None, score: float
    ) -> None:
        """`TopOnes`: the member's value `score` improved on its best: best.ckpt saved, and last.ckpt
        with it (one save point: nothing changes between the two in `_update_best_and_save`)."""
        step = view.global_step
        point = self._point(member, view, LaterState(score, self._other_states(member)))
        for path in (best, last) if last is not None else (best,):
            self.points[(member.index, path)] = point
            self.saved_now.append((member.index, path))
            self._saved(member, callback, path, step, self._last_names[member.index])

    def last_due(self, member: Any, view: Any, callback: ModelCheckpoint, now: bool, only_if_due: bool = False) -> None:
        """`BufferedCheckpoint._save_last_every_epoch` for a member: after every epoch last.ckpt is
        due (Lightning takes it only with best.ckpt); taken at once the first time, when a flush is
        due, or `now` (the population's training ends), else marked due. `only_if_due`: only one marked."""
        step = view.global_step
        if not callback.save_last or (
            callback._last_global_step_saved == step and self._last_taken.get(member.index) == step
        ):
            return
        path = callback.last_model_path or callback.format_checkpoint_name({}, callback.CHECKPOINT_NAME_LAST)
        if only_if_due and not self._last_pending.get(member.index):
            return
        if now or path not in self.written or time.monotonic() - self._last_flush >= self.flush_every_s:
            callback._save_checkpoint(view, path)
            callback.last_model_path = path
            self._last_pending[member.index] = False
        else:
            self._last_pending[member.index] = True

    def last_at_end(self, member: Any, view: Any, callback: ModelCheckpoint) -> None:
        """The member's training ended with this epoch (its own max_epochs, its early stopping, its
        criterion) while the population trains on: its due last.ckpt is what `BufferedCheckpoint.
        on_train_end` takes in its run alone, after Lightning has counted the epoch completed."""
        self.last_due(member, view, callback, now=False)
        if self._last_pending.get(member.index):
            self._ending = True
            try:
                self.last_due(member, view, callback, now=True, only_if_due=True)
            finally:
                self._ending = False

    def exists(self, filepath: str) -> bool:
        """Whether `filepath` exists, as `ModelCheckpoint.file_exists` asks (it then picks another name):
        looked up on disk once, then known, since only these members write there."""
        known = self._exists.get(filepath)
        if known is None:
            known = self._exists[filepath] = os.path.exists(filepath)
        return known

    def _callbacks_state(self, member: Any) -> dict[str, Any] | LaterState:
        """`call._call_callbacks_state_dict` for the member's callbacks (each callback's non-empty
        state under its `state_key`), as of now: a `LaterState` when `TopOnes` keeps its
        checkpoint callback's state."""
        kept = next((slot for _, c in self._keyed(member) if (slot := self._managed(c)) is not None), None)
        if kept is not None:
            return LaterState(self.top_ones.value(kept), self._other_states(member))  # type: ignore[union-attr]
        state = {}
        for key, callback in self._keyed(member):
            own = callback.state_dict()
            if own:
                state[key] = _frozen(own)
        return state

    def _managed(self, callback: Any) -> int | None:
        return self.top_ones.managing(callback) if self.top_ones is not None else None

    def _keyed(self, member: Any) -> list[tuple[str, Any]]:
        """The member's callbacks with their state keys (whose text is built from the callback's
        arguments each time it is asked: made once)."""
        keyed = self._state_keys.get(member.index)
        if keyed is None:
            keyed = self._state_keys[member.index] = [(callback.state_key, callback) for callback in member.callbacks]
        return keyed

    def _other_states(self, member: Any) -> dict[str, Any]:
        """The state of the member's callbacks that have one, other than those `TopOnes` keeps
        (a callback without its own `state_dict` has none: left out, as Lightning leaves out an empty one)."""
        stateful = self._stateful.get(member.index)
        if stateful is None:
            stateful = self._stateful[member.index] = [
                (key, c)
                for key, c in self._keyed(member)
                if type(c).state_dict is not Callback.state_dict and id(c) not in self._kept_ids()
            ]
        return {key: _frozen(own) for key, c in stateful if (own := c.state_dict())}

    def _kept_ids(self) -> set[int]:
        return set(self.top_ones.slots) if self.top_ones is not None else set()

    def _resolved(self, member: Any, callbacks: dict[str, Any] | LaterState) -> dict[str, Any]:
        """The callbacks' state a file holds: a `LaterState` made into Lightning's, in the callbacks' order."""
        if not isinstance(callbacks, LaterState):
            return callbacks
        state = {}
        for key, callback in self._keyed(member):
            slot = self._managed(callback)
            if slot is not None:
                state[key] = self.top_ones.state(slot, callbacks.score)  # type: ignore[union-attr]
            elif key in callbacks.others:
                state[key] = callbacks.others[key]
        return state

    def _loops_state(self, trainer: pl.Trainer, key: tuple[int, int]) -> dict[str, Any]:
        """The loops' state at this moment (`key`: epoch and global step), the same for every member."""
        if self._loops is None or self._loops[:2] != key:
            # fresh dicts of numbers (the progress trackers' `asdict`): nothing later changes them
            self._loops = (*key, trainer._checkpoint_connector._get_loops_state_dict())
        return self._loops[2]

    def _random_state(self, trainer: pl.Trainer, member: Any, key: tuple[int, int]) -> dict[str, Any]:
        """`dlbench.callbacks.resume.random_state` for the member: numpy's and Python's generators are
        shared (taken once per step), torch's is the member's own (its dropout and noise draws)."""
        if self._random is None or self._random[:2] != key:
            self._random = (*key, random_state(), getattr(trainer.lightning_module, "draws", None))
        draws = self._random[3]
        # not copied: a member's state is replaced by a new tensor when it draws, never changed in place
        torch_state = draws.states[member.index] if draws is not None else member.rng_state
        return {**self._random[2], "torch": torch_state}

    def record(self, member: Any, view: Any, filepath: str) -> None:
        """The member's callback saves `filepath` now."""
        self.points[(member.index, filepath)] = self._point(member, view, self._callbacks_state(member))
        self.saved_now.append((member.index, filepath))

    def _point(self, member: Any, view: Any, callbacks: dict[str, Any] | LaterState) -> SavePoint:
        """The save point of the member at this moment, with the callbacks' state given."""
        trainer = view._trainer
        moment = (view.current_epoch, view.global_step)  # (the view's: read once an epoch for all members)
        key = (*moment, self._ending)
        point = self._last_point.get(member.index)
        if point is not None and point[0] == key:  # best.ckpt and last.ckpt of one moment: all but
            shared = point[1]  # the callbacks' state is the same (taken once)
        else:
            loops, epoch = self._loops_state(trainer, moment), moment[0]
            if self._ending:  # as after Lightning's fit loop counts the epoch completed, at the run's end
                loops, epoch = _epoch_completed(loops), epoch + 1
            shared = {
                "epoch": epoch,
                "global_step": moment[1],
                "loops": loops,
                "lr_schedulers": [_snapshot(member.scheduler.state_dict(), {})] if member.scheduler is not None else [],
                "rows": len(member.task.history),
                "random": self._random_state(trainer, member, moment),
                "position": self._position(trainer, moment),
                "data": member.data_state(),
            }
            self._last_point[member.index] = (key, shared)
        return SavePoint(callbacks=callbacks, **shared)

    def _position(self, trainer: pl.Trainer, key: tuple[int, int]) -> dict[str, Any]:
        """`callbacks.checkpoint.position`, the same for every member at one moment: made once."""
        if self._positions is None or self._positions[0] != key:
            self._positions = (key, position(trainer))
        return self._positions[1]

    # -- once per epoch, after every member's callbacks ---------------------------------------
    def _stacked_state(self) -> dict[str, Tensor]:
        state = {f"param:{name}": tensor for name, tensor in self.network.named_stacked().items()}
        state.update({f"buffer:{name}": tensor for name, tensor in self.network.stacked_buffers().items()})
        state.update(self.optimizer.stacked_state())
        return state

    @torch.no_grad()
    def commit(self, trainer: pl.Trainer) -> None:
        """Copy the numbers of this epoch's saves into the snapshots; write what is due."""
        saved, self.saved_now = self.saved_now, []
        by_name: dict[str, list[int]] = {}
        for index, filepath in saved:
            by_name.setdefault(os.path.basename(filepath), []).append(index)
        current = self._stacked_state() if saved else {}
        for name, indices in by_name.items():
            snapshot = self.snapshots.setdefault(name, {})
            rows = torch.tensor(sorted(set(indices)), device=self.network.stacked[0].device)
            for key, tensor in current.items():
                tensor = tensor.detach()
                if key not in snapshot:
                    snapshot[key] = tensor.clone()
                else:
                    snapshot[key].index_copy_(0, rows, tensor.index_select(0, rows))
        for index, filepath in saved:
            self.pending[(index, filepath)] = None
            if isinstance(self.optimizer, MemberOptimizers):  # its state is its own optimizer's: kept as a copy
                self.optimizer_states[(index, os.path.basename(filepath))] = self.optimizer.member_state_dict(index)
        now = time.monotonic()
        due = now - self._last_flush >= self.flush_every_s
        large = self._member_bytes() > self.buffer_bytes
        for key in list(self.pending):
            index, filepath = key
            if due or large or filepath not in self.written:
                self._write(trainer, index, filepath)
        if due:
            self._last_flush = now

    def _member_bytes(self) -> float:
        """Bytes of one member's weights and optimizer state (what a checkpoint grows with)."""
        if self._bytes is None or not self._bytes:
            total = sum(tensor.numel() * tensor.element_size() for tensor in self._stacked_state().values())
            self._bytes = total / max(1, len(self.members))
        return self._bytes

    def flush(self, trainer: pl.Trainer) -> None:
        """Write every checkpoint still held in memory."""
        for index, filepath in list(self.pending):
            self._write(trainer, index, filepath)
        self._last_flush = time.monotonic()

    # -- one file -----------------------------------------------------------------------------
    def member_tensors(self, index: int, name: str) -> dict[str, Tensor]:
        """The member's parameters and buffers of its last save of `name` in its own shapes (members
        of other widths: the padding cut away), and its rows of the optimizer's stacked state
        (`member_state_dict_in` cuts those)."""
        tensors = {}
        for key, tensor in self.snapshots[name].items():
            kind, _, rest = key.partition(":")
            own = kind in ("param", "buffer")
            tensors[key] = self.network.own(index, rest, tensor[index]) if own else tensor[index]
        return tensors

    def load_into_member(self, index: int, name: str) -> None:
        """Put the member's numbers of its last save of `name` into its own network."""
        member = self.members[index]
        own = dict(member.task.model.named_parameters())
        own.update(dict(member.task.model.named_buffers()))
        with torch.no_grad():
            for key, tensor in self.member_tensors(index, name).items():
                kind, _, rest = key.partition(":")
                if kind in ("param", "buffer"):
                    own[rest].copy_(tensor)

    def _optimizer_state(self, index: int, name: str) -> dict[str, Any]:
        if isinstance(self.optimizer, MemberOptimizers):
            return self.optimizer_states[(index, name)]
        return self.optimizer.member_state_dict_in(index, self.snapshots[name])

    def checkpoint(self, trainer: pl.Trainer, index: int, filepath: str) -> dict[str, Any]:
        """Member `index`'s checkpoint `filepath`, in Lightning's layout."""
        member = self.members[index]
        point = self.points[(index, filepath)]
        self.load_into_member(index, Path(filepath).name)
        checkpoint: dict[str, Any] = {
            "epoch": point.epoch,
            "global_step": point.global_step,
            "pytorch-lightning_version": pl.__version__,
            "state_dict": {key: value.detach().clone() for key, value in member.task.state_dict().items()},
            "loops": point.loops,
            "callbacks": self._resolved(member, point.callbacks),
            "optimizer_states": [self._optimizer_state(index, Path(filepath).name)],
            "lr_schedulers": point.lr_schedulers,
        }
        if point.data:  # where Lightning keeps a data module's state_dict
            checkpoint[type(member.datamodule).__qualname__] = point.data
        for callback in member.callbacks:
            callback.on_save_checkpoint(trainer, member.task, checkpoint)
        # the parts ExactResume and Task.on_save_checkpoint put in a run alone's: the member's random
        # state and its history so far (a resumed member's record is the whole run's)
        checkpoint[RANDOM_STATE] = point.random
        state = resume_state.task_state(member.task)
        checkpoint[resume_state.KEY] = {**state, "history": state["history"][: point.rows]}
        return checkpoint

    def _write(self, trainer: pl.Trainer, index: int, filepath: str) -> None:
        self.pending.pop((index, filepath), None)
        trainer.strategy.save_checkpoint(self.checkpoint(trainer, index, filepath), filepath)
        self.written.add(filepath)
        self._exists[filepath] = True
        callback = checkpoint_callback(self.members[index])
        if isinstance(callback, BufferedCheckpoint):  # what the file on disk holds, as a run alone says it
            callback.on_disk[filepath] = self.points[(index, filepath)].position


def resume_members(members: list[Any]) -> tuple[str, dict[str, Any]] | None:
    """The members of a sweep run again, each resumed from its own `last.ckpt` (all at one step:
    `dlbench.population.launch` groups them so), before the population is built from them: what
    Lightning and `ExactResume` give back to a run alone (weights, optimizer and scheduler state,
    callbacks' state, the task's record and epoch under way, its random stream). Returns the
    checkpoint the population's fit resumes its loops from and its shared random state; None when
    no member resumes."""
    from dlbench.run.checkpoints import load_checkpoint
    from dlbench.tasks.resume_state import restore_task_state

    paths = [member.plan.ckpt_path for member in members]
    if not any(paths):
        return None
    if not all(paths):
        raise ValueError("a population resumes all its members or none")
    shared: dict[str, Any] = {}
    for member, path in zip(members, paths, strict=True):
        checkpoint = load_checkpoint(path)
        member.task.load_state_dict(checkpoint["state_dict"])
        member.optimizer.load_state_dict(checkpoint["optimizer_states"][0])
        if member.scheduler is not None and checkpoint.get("lr_schedulers"):
            member.scheduler.load_state_dict(checkpoint["lr_schedulers"][0])
        states = checkpoint.get("callbacks") or {}
        for callback in member.callbacks:
            if callback.state_key in states:
                callback.load_state_dict(states[callback.state_key])
        restore_task_state(member.task, checkpoint.get(resume_state.KEY))
        member.augment_state = (checkpoint.get(type(member.datamodule).__qualname__) or {}).get("augment_generator")
        random = checkpoint.get(RANDOM_STATE)
        if random is not None:
            member.rng_state = random["torch"].clone()
            shared = shared or random
    return str(paths[0]), shared
