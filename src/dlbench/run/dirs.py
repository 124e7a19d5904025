"""Hydra callbacks that make a run's or a sweep's directory its own before anything is written.

Hydra calls `on_run_start` before it makes the run directory and writes `.hydra/` into it, and
`on_multirun_start` before the sweeper writes `multirun.yaml` or starts a job; both happen in the
process that runs the command, so a refusal here leaves the other run's files untouched. Each
refusal is one sentence on stderr and exit status 2. (Jobs of a sweep claim their own numbered
directories as they start: `dlbench.run.jobs`.)
"""

from __future__ import annotations

import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from dlbench.errors import ConfigError


def _refuse(error: ConfigError | str) -> None:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


class ClaimRunDir(Callback):
    """A single run claims `hydra.run.dir`; a sweep claims `hydra.sweep.dir` and, when the
    directory holds an earlier sweep, goes on only if it is the same sweep (then it resumes it)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from dlbench.records.claim import claim

        try:
            claim(config.hydra.run.dir, config.get("ckpt_path"), config.get("train", True) is not False)
        except ConfigError as error:
            _refuse(error)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from dlbench.config.sweep_plan import same_sweep
        from dlbench.records.claim import claim

        sweep_dir = str(config.hydra.sweep.dir)
        params = dict((config.hydra.get("sweeper") or {}).get("params") or {})
        same, theirs = same_sweep(sweep_dir, [str(item) for item in config.hydra.overrides.task], params)
        if not same:
            _refuse(
                f"hydra.sweep.dir={sweep_dir} holds another sweep ({theirs}); give this sweep its own directory "
                "(leave hydra.sweep.dir out), or run that sweep's own command again to resume it."
            )
        if _shared_study(config):
            return  # workers of one Optuna study share its sweep directory; each trial claims its own job dir
        try:
            claim(sweep_dir, key="hydra.sweep.dir")
        except ConfigError as error:
            _refuse(error)


def _shared_study(config: DictConfig) -> bool:
    """An Optuna search with a storage: several sweep processes on one study cooperate by design (the
    storage hands out trial numbers, which are the job numbers), so its sweep directory is not exclusive."""
    sweeper = config.hydra.get("sweeper") or {}
    return str(sweeper.get("_target_", "")).endswith("OptunaSweeper") and bool(sweeper.get("storage"))
