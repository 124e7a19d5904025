"""What a checkpoint needs besides weights, optimizer and loop counters for a resumed run to be
the same run: the global random number generators, given back at the moment training resumes.

Lightning restores the weights, the optimizer, the schedulers, the loops' counters and (for a
checkpoint taken inside an epoch) the training data's position; it does not keep the random
state. Dropout masks, input and weight noise come from torch's global generator, so a resumed
run drew other masks than the run that was never stopped and ended at other numbers. Here the
generators (torch, CUDA, numpy, Python) go into every checkpoint as tensors and plain tuples
(weights-only loadable) and are set again in `on_train_start`: after the checkpoint is restored,
the data iterator made and the sanity-check validation run, immediately before the first step
that continues the run, the point the saved state was taken at.

Lightning 2.6 also skips a `ReduceLROnPlateau` step (`scheduler=plateau`) on resume, which is
put right here, so the resumed run's learning rates are the uninterrupted run's:

- A checkpoint taken in an epoch's end hooks (where `ModelCheckpoint` saves best and last) comes
  before the plateau scheduler's step of that epoch, and Lightning resumes after it: the step is
  taken here, on that epoch's metrics (from the task's restored row).
- The fit loop stays "restarting" until the end of the first epoch resumed inside, and skips the
  plateau step there (`FitLoop.on_advance_end`): its flag is cleared once training has resumed.
- A checkpoint taken after a validation inside an epoch (`trainer.val_check_interval` < 1)
  resumes without running that validation again: its metrics, which the scheduler and early
  stopping read at the epoch's end, are put back into `trainer.callback_metrics`.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from dlbench.runtime.lightning import publish

KEY = "dlbench_rng"


def random_state() -> dict[str, Any]:
    """The global generators' states, as tensors and numbers (weights-only loadable). The long
    ones are tensors, which a checkpoint snapshot copies in one go (Python's 625-int tuple, walked
    item by item, cost more than the rest of a tiny model's checkpoint)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (str(kind), torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)),
        "python": (version, torch.frombuffer(bytearray(array("q", internal)), dtype=torch.int64), gauss),
    }
    if torch.cuda.is_initialized():  # (is_available() alone costs 40 us)
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_random_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(item) for item in internal.tolist()), gauss))
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class ExactResume(pl.Callback):
    """Saves the random state with every checkpoint and gives it back when training resumes."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if KEY not in checkpoint:  # present: a second checkpoint of the same moment (best, then last)
            checkpoint[KEY] = random_state()

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn == "fit":  # not the restore of the best checkpoint for testing
            self._pending = checkpoint.get(KEY)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        set_random_state(self._pending)
        self._pending = None
        fit = trainer.fit_loop
        history = getattr(pl_module, "history", None) or []
        if fit.resumed_on_epoch_end and history:
            # saved in the epoch's end hooks, before the plateau scheduler's step: take that step now,
            # on the metrics of the epoch it belongs to
            publish(trainer, {key: value for key, value in history[-1].items() if "/" in key})
            fit.epoch_loop.update_lr_schedulers("epoch", update_plateau_schedulers=True)
        fit._restarting = False  # the fit loop's own flag only: its children keep theirs
        pending_validation = getattr(pl_module, "_val_row", None)
        if pending_validation:  # saved after a validation, before its epoch's end
            publish(trainer, pending_validation)
