"""Where a run happens: its directory, whether it is a job of a sweep, which launcher started it.

Hydra knows these things (`HydraConfig`); this module is the one place outside `cli.py` that asks
it, so everything downstream takes a plain `RunContext` and also works without Hydra (a test, a
notebook, the population launcher).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """The facts about a run that are not in its config."""

    output_dir: Path
    multirun: bool = False
    sweep_dir: Path | None = None
    job_number: int | None = None
    overrides: tuple[str, ...] = ()  # the job's own overrides, as typed (`optimizer.lr=0.1`)
    hydra_overrides: tuple[str, ...] = ()  # `hydra.run.dir=...` and the like
    choices: Mapping[str, str] = field(default_factory=dict)  # the option chosen in each group
    # a trial of an Optuna search with a pruner: {storage, study_name, trial, pruner}; its epochs are reported there
    optuna_trial: Mapping[str, Any] | None = None

    @property
    def launcher(self) -> str:
        return self.choices.get("hydra/launcher") or "basic"

    @property
    def trainer_preset(self) -> str | None:
        return self.choices.get("trainer")

    @property
    def run_dir_named(self) -> bool:
        """True when the command line named the run directory (`hydra.run.dir=...`)."""
        return any(item.startswith("hydra.run.dir=") for item in self.hydra_overrides)


def externally_launched() -> bool:
    """True when SLURM (srun, submitit) or torchrun started this process as one of several ranks."""
    return int(os.environ.get("SLURM_NTASKS", "1")) > 1 or "TORCHELASTIC_RUN_ID" in os.environ


def from_hydra(output_dir: str | Path | None = None) -> RunContext:
    """The context of the running Hydra job; a standalone one in `output_dir` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return RunContext(output_dir=Path(output_dir or "."))
    hydra: Any = HydraConfig.get()
    multirun = hydra.mode == RunMode.MULTIRUN
    return RunContext(
        output_dir=Path(output_dir or hydra.runtime.output_dir),
        multirun=multirun,
        sweep_dir=Path(hydra.sweep.dir) if multirun else None,
        job_number=int(hydra.job.num) if hydra.job.get("num") is not None else None,
        overrides=_as_typed(hydra.overrides.task),  # '+x=${oc.env:TOKEN}' stays so: no secret in a record
        hydra_overrides=_as_typed(hydra.overrides.hydra),
        choices={str(key): str(value) for key, value in (hydra.runtime.choices or {}).items() if value is not None},
        optuna_trial=_optuna_trial(hydra, multirun),
    )


def _as_typed(overrides: Any) -> tuple[str, ...]:
    """The overrides as typed: reading a config list item by item would resolve `${...}` in them."""
    from omegaconf import ListConfig, OmegaConf

    if isinstance(overrides, ListConfig):
        return tuple(str(item) for item in OmegaConf.to_container(overrides, resolve=False))
    return tuple(str(item) for item in overrides or ())


def _optuna_trial(hydra: Any, multirun: bool) -> dict[str, Any] | None:
    """Where to report this job's epochs when it is a trial of an Optuna search that prunes: the
    sweeper's storage and study, and the trial number, which is the job number."""
    sweeper = hydra.get("sweeper") or {}
    if not multirun or not str(sweeper.get("_target_", "")).endswith("OptunaSweeper"):
        return None
    if sweeper.get("pruner") is None or not sweeper.get("storage") or hydra.job.get("num") is None:
        return None
    from omegaconf import OmegaConf

    return {
        "storage": str(sweeper.storage),
        "study_name": str(sweeper.study_name),
        "trial": int(hydra.job.num),
        "pruner": OmegaConf.to_container(sweeper.pruner, resolve=True),  # the search's, to decide alike
    }
