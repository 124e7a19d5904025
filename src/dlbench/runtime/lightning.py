"""Three shortcuts past Lightning's per-hook, per-key and per-checkpoint machinery, for tiny models.

On the models of the course (an Iris MLP, the 6-2-1 mirror-symmetry net) an epoch is a few
microseconds of arithmetic and Lightning's bookkeeping around it is most of the time. Each
shortcut leans on one thing Lightning does not promise; tests/test_runtime.py checks that thing,
so an upgrade that changes it fails loudly instead of silently.

Measured with `python benchmarks/patches.py` (3 repetitions, medians, 2 cores at load average
about 6; the whole `python train.py` command, start-up included):

- `PlainHookName`: Lightning sets `_current_fx_name` on the LightningModule around every hook it
  calls (about a hundred times an epoch); `nn.Module.__setattr__` would look for a parameter,
  buffer or submodule of that name each time. Saves 14% of the mirror-symmetry run (2,000
  one-step epochs: 22.2 s -> 19.1 s); within noise on the default Iris run (200 epochs).
- `publish`: `LightningModule.log_dict` aggregates values logged many times per epoch and builds a
  result module per key; for a row that is already one number per key, putting it straight into
  `trainer.callback_metrics` (which ModelCheckpoint, EarlyStopping and ReduceLROnPlateau read,
  and which Lightning clears only when a fit, validate or test starts) saves 29% of the mirror run
  (26.8 s -> 19.1 s) and 5% of the Iris run. Relies on: `callback_metrics` being a mutable dict
  that Lightning does not rebuild between our write and the callbacks' read.
- `plain_progress_state`: every checkpoint holds the loops' progress counters, 18 small
  dataclasses whose `state_dict` is `dataclasses.asdict` (a recursive deep copy of each int).
  The mirror run takes best.ckpt at nearly every epoch; its loops' state cost 210 us a dump
  (a third of `dump_checkpoint`), 71 us with the plain dicts of the same numbers: 4% of the whole
  mirror command (14.90 s -> 14.33 s, 3 repetitions, load 0.5-1.5). Relies on: a progress
  tracker's instance attributes being exactly its dataclass fields (tested).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loops.progress import _BaseProgress

from dlbench.runtime import enabled

_PLAIN_HOOK_NAME = enabled("hook_name")


class PlainHookName:
    """Mix into a LightningModule: `_current_fx_name` is set as a plain attribute (see the module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_current_fx_name" and _PLAIN_HOOK_NAME:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


def publish(trainer: pl.Trainer, row: dict[str, float]) -> None:
    """Make `row` what `trainer.callback_metrics` holds for these keys (as 0-d tensors, like `log`)."""
    if enabled("publish"):
        trainer.callback_metrics.update({key: torch.tensor(value) for key, value in row.items()})
    else:  # Lightning's own path, for measuring the shortcut and for ruling it out
        trainer.lightning_module.log_dict(row, logger=False)


def _plain_state_dict(self: _BaseProgress) -> dict[str, Any]:
    """`asdict(self)` for a progress tracker: its fields' numbers, nested trackers as their own dicts."""
    return {key: value.state_dict() if isinstance(value, _BaseProgress) else value for key, value in vars(self).items()}


def plain_progress_state() -> None:
    """Give Lightning's progress trackers `_plain_state_dict` (see the module); once, unless switched off."""
    if enabled("progress_state") and _BaseProgress.state_dict is not _plain_state_dict:
        _BaseProgress.state_dict = _plain_state_dict  # type: ignore[method-assign]
