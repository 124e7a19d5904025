"""Train until a criterion is met, and record after how many epochs: `criterion=all_correct|within`.

Rumelhart, Hinton & Williams (1986) trained "until every output was within 0.1 of its target"
and reported the number of sweeps it took. `StopAtCriterion` reads each epoch's row (the one
written to metrics.csv) and, the first time `metric` reaches `value`, records the epoch count
(`epochs_to_criterion` in summary.json) and, with `stop`, ends training there.

Which weights a row measures: `val/*` is computed after the epoch's last update; `train/*` is
accumulated during the epoch (with full batch: on the weights before the epoch's one update). On
datasets trained and evaluated on all their patterns (`holdout: false`: xor, logic_*,
mirror_symmetry) `val/acc` is therefore "every training pattern right after N sweeps", the
paper's criterion, and the default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EarlyStopping


class StopAtCriterion(EarlyStopping):
    """Stop (or only record) the first epoch whose `metric` is >= `value` (mode max) or <= (min).

    A subclass of EarlyStopping only for its place in Lightning's hook order: Lightning calls the
    train-epoch-end hook of EarlyStopping and checkpoint callbacks after the module's own, which is
    where the task completes the epoch's row. None of EarlyStopping's patience logic is used.
    """

    def __init__(self, metric: str = "val/acc", value: float = 1.0, mode: str = "max", stop: bool = True) -> None:
        super().__init__(monitor=metric, mode=mode, patience=1, check_on_train_epoch_end=True)
        self.metric, self.value, self.stop = metric, float(value), bool(stop)
        self.epochs_to_criterion: int | None = None
        self.stopping_reason_message: str | None = None

    @property
    def state_key(self) -> str:
        return f"StopAtCriterion{{'metric': {self.metric!r}, 'value': {self.value}}}"

    def met(self, row: dict[str, float]) -> bool:
        current = row.get(self.metric)
        if current is None or not math.isfinite(current):
            return False
        return current >= self.value if self.mode == "max" else current <= self.value

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.epochs_to_criterion is None:  # a resumed run keeps what it had
            self.stopping_reason_message = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        history = getattr(pl_module, "history", None)
        if not history or trainer.sanity_checking:
            return
        row = history[-1]
        if self.epochs_to_criterion is None and self.met(row):
            self.epochs_to_criterion = int(row["epoch"]) + 1
            sign = ">=" if self.mode == "max" else "<="
            message = (
                f"criterion met: {self.metric} = {row[self.metric]:.6g} {sign} {self.value:g} after "
                f"{self.epochs_to_criterion} epochs"
            )
            if self.stop:  # execute's stop_reason reads this message: only when it did stop training
                self.stopping_reason_message = message
                self.stopped_epoch = trainer.current_epoch
                trainer.should_stop = True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        return  # EarlyStopping would check here too; the row is complete only at the epoch's end

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_to_criterion": self.epochs_to_criterion, "message": self.stopping_reason_message}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what a checkpoint knew, without forgetting what this run has seen since.

        The epoch the criterion was first met is a fact of the run: a checkpoint written before
        it (best.ckpt, reloaded by the test phase) knows only "not yet", and must not erase it."""
        if state_dict.get("epochs_to_criterion") is not None or self.epochs_to_criterion is None:
            self.epochs_to_criterion = state_dict.get("epochs_to_criterion")
            self.stopping_reason_message = state_dict.get("message")

    def describe(self) -> dict[str, Any]:
        """What summary.json records about the criterion."""
        return {"metric": self.metric, "value": self.value, "mode": self.mode, "stop": self.stop}


def criterion_summary(callbacks: Iterable[Any]) -> dict[str, Any]:
    """`criterion` (what it was, or None) and `epochs_to_criterion` (None when never met) for summary.json."""
    for callback in callbacks:
        if isinstance(callback, StopAtCriterion):
            return {"criterion": callback.describe(), "epochs_to_criterion": callback.epochs_to_criterion}
    return {"criterion": None, "epochs_to_criterion": None}
