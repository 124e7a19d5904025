"""A trial of an Optuna search reports its monitored value every epoch, and stops when pruned.

The sweeper (`hparams_search=optuna`) runs each trial as an ordinary job whose job number is the
trial number; when it has a pruner (`hydra.sweeper.pruner`, a `MedianPruner` by default), the job
opens the study's storage itself, so this works with every launcher (in the sweep's process, a
joblib worker, a Ray node, a SLURM job). After each validation epoch the value is reported as the
trial's intermediate value for that epoch; when the pruner says the trial is worse than the
others were at the same epoch, training stops after that epoch, the trial gets the user attribute
`dlbench.pruned_at` (the epoch) and the sweeper records it `pruned`.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl

PRUNED_ATTR = "dlbench.pruned_at"


class OptunaPruning(pl.Callback):
    """See the module docstring; built by `run.builders` for a job that is a pruned search's trial."""

    def __init__(self, storage: str, study_name: str, trial: int, monitor: str, pruner: Any = None) -> None:
        self.storage, self.study_name, self.number, self.monitor = storage, study_name, trial, monitor
        self.pruner = pruner  # the sweeper's pruner config (`_target_` and its arguments): the trial decides with it
        self._trial: Any = None
        self.pruned_at: int | None = None

    def _open(self) -> Any:
        """The trial, through Optuna's public storage API (ids from the study's name and trial number)."""
        import optuna
        from hydra.utils import instantiate

        from dlbench.config.optuna_storage import open_storage

        storage = optuna.storages.get_storage(open_storage(self.storage))
        pruner = instantiate(self.pruner) if self.pruner else None
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=pruner)
        study_id = storage.get_study_id_from_name(self.study_name)
        return optuna.trial.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id, self.number))

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # at the validation's end, after the task has published the epoch's values (a callback's
        # on_validation_epoch_end runs before the task's, and would read the previous epoch's)
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self._trial is None:
            self._trial = self._open()
        epoch = int(trainer.current_epoch)
        self._trial.report(float(value), epoch)
        if self._trial.should_prune():
            self.pruned_at = epoch
            self._trial.set_user_attr(PRUNED_ATTR, epoch)
            print(f"optuna: trial {self.number} pruned after epoch {epoch} ({self.monitor} {float(value):.4g})")
            trainer.should_stop = True
