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
import os
import socket
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
PRUNED_ATTR = "dlbench.pruned_at"  # set by a trial's job that the pruner stopped (callbacks/optuna_pruning.py)
WORKER_ATTR = "dlbench.worker"  # each trial's worker, host:pid, so a restart closes only its own dead trials


def suggest(trial: Any, name: str, dist: Any) -> Any:
    """Draw one parameter through Optuna's public `suggest_*` calls, from its distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, list(dist.choices))
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


ASK_ATTEMPTS = 5  # a new trial closed by another worker's start-up before it was tagged: ask again


def worker_alive(worker: str | None) -> bool:
    """Whether the worker that asked for a trial may still run it (see `OptunaSweeper._close_stale`)."""
    if not worker or ":" not in worker:
        return False
    host, pid = worker.rsplit(":", 1)
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        # The values as Hydra's grammar typed them (16 an int, relu a string), so `best_params` and
        # the study's trials hold what the config would; a value Optuna cannot store (a list) as text.
        values = list(override.sweep_iterator())
        if all(value is None or isinstance(value, (bool, int, float, str)) for value in values):
            return CategoricalDistribution(values)
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
        pruner: Any = None,
        params: DictConfig | dict[str, str] | None = None,
    ) -> None:
        self.direction = direction
        self.n_trials = n_trials
        self.n_jobs = max(1, n_jobs)
        self.study_name = study_name
        self.storage = storage
        self.sampler = sampler
        self.pruner = pruner  # each trial reports its epochs (dlbench.callbacks.optuna_pruning) and may stop early
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
        self._texts: dict[str, dict[Any, str]] = {}
        for override in OverridesParser.create().parse_overrides(lines):
            if override.is_sweep_override():
                key = override.get_key_element()
                space[key] = distribution(override)
                if hasattr(space[key], "choices"):
                    self._texts[key] = dict(
                        zip(override.sweep_iterator(), override.sweep_string_iterator(), strict=True)
                    )
            else:
                fixed.append(override.input_line)
        return space, fixed

    def _study(self) -> Any:
        import optuna

        from dlbench.config.optuna_storage import open_storage

        return optuna.create_study(
            study_name=self.study_name,
            storage=open_storage(self.storage),
            sampler=self.sampler,
            pruner=self.pruner,
            direction=self.direction,
            load_if_exists=True,
        )

    def _sampler(self, number: int) -> Any:
        """The configured sampler seeded with `seed + trial number`, or the one Hydra built when unseeded.

        Why per trial: a sampler seeded once per process starts its random stream over in every
        process, so a resumed search drew trial 0's values again, and two workers started together
        would draw the same trials. The trial number comes from the storage, unique across workers, so
        every trial's draw differs and a search run again from the same storage is reproducible.
        """
        from hydra.utils import instantiate

        sampler = OmegaConf.select(self.config, "hydra.sweeper.sampler")
        if not isinstance(sampler, DictConfig) or OmegaConf.select(sampler, "seed") is None:
            return self.sampler
        return instantiate(sampler, seed=int(sampler.seed) + number)

    def _ask(self, study: Any, space: dict[str, Any]) -> Any:
        """A new trial of the study with its parameters drawn (see `_sampler` for the seed).

        Between `study.ask()` and tagging the trial with this worker, another worker starting on
        the same storage can see a running trial with no worker and close it as stale
        (`_close_stale`); Optuna then refuses to update it. That trial is the other worker's record
        of an interruption; this worker asks for another (found by two workers on one journal)."""
        from optuna.exceptions import UpdateFinishedTrialError

        for _ in range(ASK_ATTEMPTS - 1):
            try:
                return self._ask_once(study, space)
            except UpdateFinishedTrialError:
                continue
        return self._ask_once(study, space)

    def _ask_once(self, study: Any, space: dict[str, Any]) -> Any:
        trial = study.ask()
        trial.set_user_attr(WORKER_ATTR, worker_name())
        sampler = self._sampler(trial.number)
        if sampler is not None:
            study.sampler = sampler
        for name, dist in space.items():
            suggest(trial, name, dist)
        return trial

    def _close_stale(self, study: Any) -> set[int]:
        """Close the trials an interrupted worker left running; the numbers of all closed so far.

        A running trial is stale when no live process owns it: it has no worker attribute (it was
        asked for outside a sweep) or its worker ran on this machine and is gone. A trial running on
        another machine belongs to a worker that may still be alive, so it is left alone.
        """
        from optuna.trial import TrialState

        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # WAITING: enqueued, kept
            if worker_alive(trial.user_attrs.get(WORKER_ATTR)):
                continue
            study.tell(trial.number, state=TrialState.FAIL)
            study.set_user_attr(f"interrupted_{trial.number}", True)
        return {int(key.split("_", 1)[1]) for key in study.user_attrs if key.startswith("interrupted_")}

    def sweep(self, arguments: list[str]) -> tuple[dict[str, Any], float] | None:
        from optuna.trial import TrialState

        refuse_seeds(self.config.get("seeds", 1))

        space, fixed = self._parse(arguments)
        study = self._study()
        interrupted = self._close_stale(study)

        def counted() -> int:
            """Trials that ended or are running, in every worker: n_trials is the study's total (a trial
            enqueued with `study.enqueue_trial` is waiting: the next ask runs it)."""
            return sum(
                1
                for trial in study.get_trials(deepcopy=False)
                if trial.number not in interrupted and trial.state != TrialState.WAITING
            )

        log.info(
            "Optuna study '%s' in %s: %d trials done or running, %d to go",
            study.study_name,
            self.storage or "memory",
            counted(),
            max(0, self.n_trials - counted()),
        )
        while (to_go := self.n_trials - counted()) > 0:
            trials = [self._ask(study, space) for _ in range(min(self.n_jobs, to_go))]
            batch = [tuple(fixed) + tuple(self._override(k, v) for k, v in trial.params.items()) for trial in trials]
            returns = self._launch(trials, batch)
            for trial, job in zip(trials, returns, strict=False):
                value = self._value(job)
                stored = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
                pruned_at = stored.user_attrs.get(PRUNED_ATTR)  # set by the trial's own job, maybe elsewhere
                if pruned_at is not None:
                    study.tell(trial, state=TrialState.PRUNED)
                    log.info("Trial %d pruned after epoch %d", trial.number, pruned_at)
                elif value is None:
                    study.tell(trial, state=TrialState.FAIL)
                    log.warning(
                        "Trial %d failed (no finite %s); the search goes on",
                        trial.number,
                        self.config.get("monitor", "value"),
                    )
                else:
                    study.tell(trial, value)

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

    def _launch(self, trials: list[Any], batch: list[tuple[str, ...]]) -> list[Any]:
        """Launch the trials as jobs numbered by their trial numbers.

        Job numbers are trial numbers, unique across runs and workers of a study, so a resumed search
        or a second worker never writes into another trial's run directory. Hydra numbers a batch
        from its first job on; a batch whose numbers are not consecutive (another worker asked in
        between) is launched one trial at a time.
        """
        numbers = [trial.number for trial in trials]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return list(self.launcher.launch(batch, initial_job_idx=numbers[0]))
        return [self.launcher.launch([job], initial_job_idx=n)[0] for n, job in zip(numbers, batch, strict=True)]

    def _override(self, key: str, value: Any) -> str:
        """`key=value` as Hydra reads it back: a categorical value in the text the command gave."""
        texts = self._texts.get(key)
        if texts is not None and value in texts:
            return f"{key}={texts[value]}"
        return f"{key}={value}"

    @staticmethod
    def _value(job: Any) -> float | None:
        """The trial's float, or None for a job that raised, returned None, or returned NaN/inf."""
        try:
            value = float(job.return_value)
        except Exception:  # noqa: BLE001 - the job raised (JobReturn re-raises it here) or returned None
            return None
        return value if math.isfinite(value) else None
