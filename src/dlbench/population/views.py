"""The population's Trainer as one member's callbacks see it.

A member's checkpoint and early-stopping callbacks are the real Lightning callbacks its standalone
run would have (`ModelCheckpoint`/`BufferedCheckpoint`, `EarlyStopping`), driven with this view
instead of a Trainer of their own: everything is the population's Trainer (epoch, global step,
strategy, loop state, validation batches...) except what is the member's own: the metrics it
reads (`callback_metrics`), its callbacks (`checkpoint_callback` too) and loggers, its data
module, and `should_stop`, which stops the member, not the population. So each member's best
epoch, stop epoch and the callbacks' state in its checkpoints are decided by Lightning's own
code, as in its standalone run.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor


class MemberTrainer:
    """`trainer` with the member's own metrics, callbacks, loggers, data and stop flag."""

    # What the callbacks ask the trainer many times an epoch and what does not change inside the
    # epoch's end: read from the trainer once per epoch (`refresh`) for all members.
    HOT = (
        "current_epoch",
        "global_step",
        "sanity_checking",
        "fast_dev_run",
        "state",
        "check_val_every_n_epoch",
        "val_check_interval",
        "num_val_batches",
        "is_global_zero",
        "strategy",
        "world_size",
        "_val_check_time_interval",
    )

    def __init__(self, trainer: pl.Trainer, member: Any, shared: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_trainer", trainer)
        object.__setattr__(self, "_shared", shared if shared is not None else {})
        object.__setattr__(self, "_own", {})
        self._own.update(
            callback_metrics={},
            should_stop=False,
            callbacks=member.callbacks,
            loggers=[logger for logger in member.loggers if not _is_wandb(logger)],
            datamodule=member.datamodule,
            lightning_module=member.task,
            checkpoint_callback=next((c for c in member.callbacks if isinstance(c, ModelCheckpoint)), None),
        )

    def __getattr__(self, name: str) -> Any:
        own = object.__getattribute__(self, "_own")
        if name in own:
            return own[name]
        shared = object.__getattribute__(self, "_shared")
        if name in shared:
            return shared[name]
        return getattr(object.__getattribute__(self, "_trainer"), name)

    @classmethod
    def refresh(cls, trainer: pl.Trainer, shared: dict[str, Any]) -> None:
        """Read the trainer's `HOT` values into `shared` (at the start of an epoch's end)."""
        shared.clear()
        for name in cls.HOT:
            shared[name] = getattr(trainer, name, None)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            self._own[name] = value
        else:
            setattr(self._trainer, name, value)

    @property
    def logger(self) -> Any:
        loggers = self._own["loggers"]
        return loggers[0] if loggers else None

    def publish(self, row: dict[str, Tensor]) -> None:
        """This epoch's numbers, as `dlbench.runtime.lightning.publish` puts them into `callback_metrics`."""
        self._own["callback_metrics"].update(row)


def _is_wandb(logger: Any) -> bool:
    from pytorch_lightning.loggers import WandbLogger

    return isinstance(logger, WandbLogger)
