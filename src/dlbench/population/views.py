"""The population's Trainer as one member's callbacks see it.

A member's checkpoint and early-stopping callbacks are the real Lightning callbacks its standalone
run would have (`ModelCheckpoint`/`BufferedCheckpoint`, `EarlyStopping`), driven with this view
instead of a Trainer of their own: everything is the population's Trainer (epoch, global step,
strategy, loop state, validation batches...) except what is the member's own: the metrics it
reads (`callback_metrics`), its callbacks and loggers, its data module, and `should_stop`, which
stops the member, not the population. So each member's best epoch, stop epoch and the callbacks'
state in its checkpoints are decided by Lightning's own code, as in its standalone run.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch import Tensor


class MemberTrainer:
    """`trainer` with the member's own metrics, callbacks, loggers, data and stop flag."""

    def __init__(self, trainer: pl.Trainer, member: Any) -> None:
        object.__setattr__(self, "_trainer", trainer)
        object.__setattr__(self, "_own", {})
        self._own.update(
            callback_metrics={},
            should_stop=False,
            callbacks=member.callbacks,
            loggers=[logger for logger in member.loggers if not _is_wandb(logger)],
            datamodule=member.datamodule,
            lightning_module=member.task,
        )

    def __getattr__(self, name: str) -> Any:
        own = object.__getattribute__(self, "_own")
        if name in own:
            return own[name]
        return getattr(object.__getattribute__(self, "_trainer"), name)

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
        """This epoch's numbers, as `dlbench.tasks.publish` puts them into `callback_metrics`."""
        self._own["callback_metrics"].update(row)


def _is_wandb(logger: Any) -> bool:
    from pytorch_lightning.loggers import WandbLogger

    return isinstance(logger, WandbLogger)
