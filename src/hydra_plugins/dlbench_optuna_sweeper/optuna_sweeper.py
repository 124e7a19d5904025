"""A small Hydra sweeper that searches hyperparameters with current Optuna.

Why our own: the published hydra-optuna-sweeper 1.3.0 requires optuna<3 (2.10, 2021). Its
`sqlite:` storage fails under SQLAlchemy 2 (an AssertionError in optuna's schema check) and
works only with `sqlalchemy<2` and `alembic<1.14` pinned; installing it also pulls a Hydra
release candidate. This sweeper takes the same `hydra.sweeper.params` syntax, e.g.
`optimizer.lr: tag(log, interval(1e-4, 1e-1))`, `dataset.batch_size: choice(16, 32, 64)`,
`range(1, 4)`, and adds what a course needs: a failed or diverged trial is recorded as failed
and the search goes on; trials live in a storage (SQLite in the sweep directory) so running
the same command with the same `hydra.sweep.dir` resumes the search where it stopped.

This module is imported by Hydra's plugin discovery on every start, so Optuna is imported only
when a search actually runs.
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


def distribution(override: Override) -> Any:
    """The Optuna distribution for one sweep override of Hydra's grammar."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    tags = getattr(sweep, "tags", set()) or set()
    log_scale = "log" in tags
    if isinstance(sweep, IntervalSweep):
        if "int" in tags:
            return IntDistribution(int(sweep.start), int(sweep.end), log=log_scale)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
    if isinstance(sweep, RangeSweep) and all(isinstance(x, int) for x in (sweep.start, sweep.stop, sweep.step)):
        values = list(range(sweep.start, sweep.stop, sweep.step))
        return IntDistribution(values[0], values[-1], step=sweep.step, log=log_scale and sweep.step == 1)
    if isinstance(sweep, (ChoiceSweep, RangeSweep)):
        return CategoricalDistribution(list(override.sweep_string_iterator()))
    raise ValueError(
        f"hydra.sweeper.params: cannot search over '{override.input_line}'; use interval(a, b), range(a, b), "
        "choice(a, b, ...) or a,b,c."
    )


def refuse_seeds(seeds: Any) -> None:
    """`seeds=N` repeats a sweep's settings; a search chooses its own, so it is refused in one sentence."""
    from dlbench.config.seeds import seed_count
    from dlbench.errors import ConfigError

    try:
        count = seed_count(seeds)
        if count > 1:
            raise ConfigError(
                f"seeds={count} repeats every setting of a sweep over seeds, but hparams_search=optuna chooses its "
                f"own settings; search with seeds=1, then run the best setting with -m seeds={count}."
            )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


class OptunaSweeper(Sweeper):
    """Ask Optuna for trials, launch them with the configured launcher, tell it the results."""

    def __init__(
        self,
        direction: str = "minimize",
        n_trials: int = 20,
        n_jobs: int = 1,
        study_name: str | None = None,
        storage: str | None = None,
        sampler: Any = None,
        params: DictConfig | dict[str, str] | None = None,
    ) -> None:
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = max(1, n_jobs)
        self.study_name = study_name
        self.storage = storage
        self.sampler = sampler
        self.params = dict(params or {})

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def _parse(self, arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
        """Search space from the sweep overrides; every other override is passed to each trial."""
        lines = [f"{key}={value}" for key, value in self.params.items()] + list(arguments)
        space, fixed = {}, []
        for override in OverridesParser.create().parse_overrides(lines):
            if override.is_sweep_override():
                space[override.get_key_element()] = distribution(override)
            else:
                fixed.append(override.input_line)
        return space, fixed

    def _study(self) -> Any:
        import optuna

        if self.storage and str(self.storage).startswith("sqlite:///"):
            Path(str(self.storage)[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        return optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            direction=self.direction,
            load_if_exists=True,
        )

    def sweep(self, arguments: list[str]) -> tuple[dict[str, Any], float] | None:
        from optuna.trial import TrialState

        refuse_seeds(self.config.get("seeds", 1))

        space, fixed = self._parse(arguments)
        study = self._study()
        # Trials left running by an interrupted search never finished: close them as failed and
        # run them again, so n_trials counts trials that really ended.
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            study.tell(trial.number, state=TrialState.FAIL)
            study.set_user_attr(f"interrupted_{trial.number}", True)
        interrupted = {int(key.split("_", 1)[1]) for key in study.user_attrs if key.startswith("interrupted_")}
        done = sum(
            1
            for trial in study.get_trials(deepcopy=False)
            if trial.state.is_finished() and trial.number not in interrupted
        )
        to_go = max(0, self.n_trials - done)
        log.info(
            "Optuna study '%s' in %s: %d trials done, %d to go", study.study_name, self.storage or "memory", done, to_go
        )

        while to_go > 0:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, to_go))]
            batch = [tuple(fixed) + tuple(f"{key}={value}" for key, value in trial.params.items()) for trial in trials]
            # Job numbers continue after earlier runs of the study, so a resumed search never
            # writes into the run directory of an earlier trial.
            returns = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, job in zip(trials, returns, strict=False):
                value = self._value(job)
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                    log.warning(
                        "Trial %d failed (no finite %s); the search goes on",
                        trial.number,
                        self.config.get("monitor", "value"),
                    )
                else:
                    study.tell(trial, value)
            to_go -= len(trials)

        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed:
            log.warning("No trial of study '%s' completed; there is no best value.", study.study_name)
            return None
        best = study.best_trial
        results = {
            "name": "optuna",
            "study_name": study.study_name,
            "storage": self.storage,
            "direction": self.direction,
            "best_params": best.params,
            "best_value": best.value,
            "best_trial": best.number,
            "n_trials": len(study.trials),
            "n_completed": len(completed),
        }
        OmegaConf.save(OmegaConf.create(results), Path(self.config.hydra.sweep.dir) / RESULTS_FILE)
        log.info("Best parameters: %s", best.params)
        log.info("Best value: %s", best.value)
        print(f"Best value: {best.value} with {best.params} (trial {best.number})")
        return best.params, best.value

    @staticmethod
    def _value(job: Any) -> float | None:
        """The trial's float, or None for a job that raised, returned None, or returned NaN/inf."""
        try:
            value = float(job.return_value)
        except Exception:  # noqa: BLE001 - the job raised (JobReturn re-raises it here) or returned None
            return None
        return value if math.isfinite(value) else None
