"""The population launcher's work: compose every job, group them, train each group as one population.

For each batch of jobs Hydra's sweeper hands over:

1. every job's config is composed as the basic launcher composes it (same job number, same run
   directory `<sweep dir>/<job number>`), and resolved with that job's Hydra config;
2. a job that a population cannot express (`grouping.blocker`) runs alone, the basic launcher's
   way (`hydra.core.utils.run_job` with `train.py`'s task function), after one line naming the key;
3. the others are grouped by `grouping.group_key` (their config minus the per-member keys); one
   line says what keeps populations apart; a group smaller than `min_members` runs alone;
4. each population's members are built in their own job context (`.hydra/`, `train.log`,
   Hydra's `on_job_start`), trained by `fit.train_population`, and end with their own
   `JobReturn` and `on_job_end`, as if each had run alone. If the population itself fails (an
   error, not a member's divergence), its jobs run again one at a time.

Jobs keep their numbers and the returns come back in the order of the overrides.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    _flush_loggers,
    _save_config,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from dlbench.records.summary import Summary

PREFIX = "population:"


@dataclass
class Job:
    number: int
    overrides: list[str]
    config: DictConfig  # the job's whole config, `hydra` node included
    cfg: DictConfig | None = None  # its plan's config: resolved, without `hydra`
    context: Any = None  # its RunContext (dlbench.config.context)
    reason: str | None = None  # why it runs alone
    key: str | None = None  # its group
    done: Summary | None = None  # completed or diverged earlier (this sweep run again): not run again

    @property
    def label(self) -> str:
        return f"job {self.number} ({' '.join(filter_overrides(self.overrides)) or 'no overrides'})"


@contextmanager
def job_context(job: Job) -> Iterator[None]:
    """Hydra's global config is this job's while inside (as `run_job` makes it)."""
    instance = HydraConfig.instance()
    original = instance.cfg
    instance.set_config(job.config)
    try:
        yield
    finally:
        instance.cfg = original


def compose(launcher: Any, number: int, overrides: Sequence[str]) -> Job:
    """The job's config and run directory, exactly as the basic launcher and `run_job` make them."""
    config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(config):
        config.hydra.job.id = number
        config.hydra.job.num = number
    job = Job(number, list(overrides), config)
    with job_context(job):
        output_dir = os.path.join(
            str(OmegaConf.select(config, "hydra.sweep.dir")), str(OmegaConf.select(config, "hydra.sweep.subdir"))
        )
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    return job


def decide(job: Job) -> None:
    """Resolve the job's plan and say whether it can join a population, and which."""
    from dlbench.config.context import from_hydra
    from dlbench.config.plan import resolve
    from dlbench.population.grouping import blocker, group_key

    with job_context(job):
        job.context = from_hydra()
        try:
            job.cfg = OmegaConf.create(dict(resolve(job.config, job.context).config))
        except Exception as error:  # noqa: BLE001 - a refused or unresolvable config: its own run says so
            job.reason = f"its config is refused ({type(error).__name__})"
            return
        job.reason = blocker(job.cfg, dict(job.config.hydra.job.get("env_set") or {}))
        if job.reason is None:
            job.key = group_key(job.cfg)
            _take(job)


def _take(job: Job) -> None:
    """What the job's directory holds decides, as for a job run alone (`dlbench.run.jobs.take_job`):
    a finished job is not run again, a stopped one resumes from its last.ckpt (with the others
    stopped at the same step: they resume as one population), any other starts afresh."""
    import json

    from dlbench.records.summary import whole_summary
    from dlbench.run.jobs import take_job

    run_dir = Path(job.config.hydra.runtime.output_dir)
    try:
        start = take_job(job.config, run_dir, job.number, list(job.context.overrides))
    except Exception as error:  # noqa: BLE001 - its directory is taken: its own run says so
        job.reason, job.key = f"its directory is refused ({type(error).__name__})", None
        return
    if start.skip:
        job.done, job.key = whole_summary(run_dir), None
    elif start.resumed_at is not None:
        job.config = start.cfg
        job.key = json.dumps({**json.loads(job.key or "{}"), "resumed from step": start.resumed_at}, sort_keys=True)


def run_alone(launcher: Any, job: Job) -> JobReturn:
    """The basic launcher's way: `run_job` with train.py's task function."""
    result = run_job(
        hydra_context=launcher.hydra_context,
        task_function=launcher.task_function,
        config=job.config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return result


@contextmanager
def member_job(launcher: Any, job: Job) -> Iterator[None]:
    """Inside a member's job: its Hydra config, its run directory with `.hydra/`, its `train.log`."""
    with job_context(job):
        config = job.config
        output_dir = Path(config.hydra.runtime.output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        try:
            yield
        finally:
            _flush_loggers()
            configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)


def start_job(launcher: Any, job: Job) -> None:
    """What `run_job` does before the task function: `.hydra/` and Hydra's `on_job_start`."""
    config = job.config
    task_cfg = _task_config(config)
    if config.hydra.output_subdir is not None:
        hydra_output = Path(config.hydra.runtime.output_dir) / Path(config.hydra.output_subdir)
        _save_config(task_cfg, "config.yaml", hydra_output)
        _save_config(copy.deepcopy(HydraConfig.instance().cfg), "hydra.yaml", hydra_output)
        _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
    launcher.hydra_context.callbacks.on_job_start(config=config, task_function=launcher.task_function)


def _task_config(config: DictConfig) -> DictConfig:
    task_cfg = copy.deepcopy(config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    return task_cfg


def end_job(launcher: Any, job: Job, summary: Summary) -> JobReturn:
    """What `run_job` does after the task function: the `JobReturn` and Hydra's `on_job_end`."""
    result = JobReturn()
    result.cfg = _task_config(job.config)
    result.hydra_cfg = copy.deepcopy(HydraConfig.instance().cfg)
    result.overrides = OmegaConf.to_container(job.config.hydra.overrides.task)
    result.working_dir = os.getcwd()
    result.return_value = summary.best.value if summary.best else None
    result.status = JobStatus.COMPLETED
    result.task_name = JobRuntime.instance().get("name")
    launcher.hydra_context.callbacks.on_job_end(config=job.config, job_return=result)
    return result


def _clean(run_dir: Path) -> None:
    """Remove what a failed population left in a member's run directory before it runs alone."""
    for name in ("checkpoints", "pictures", "wandb"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in ("metrics.csv", "summary.json", "hparams.yaml"):
        (run_dir / name).unlink(missing_ok=True)


def run_population(launcher: Any, jobs: list[Job]) -> dict[int, JobReturn]:
    """Build the members, train them as one population, return each job's `JobReturn`."""
    from dlbench.population.fit import train_population
    from dlbench.population.members import DataModules, build_member
    from dlbench.records.claim import RunDirTaken
    from dlbench.run.jobs import hold_job

    started = time.perf_counter()
    results: dict[int, JobReturn] = {}
    members, alone = [], []
    data = DataModules()
    for job in jobs:  # held for the population's life (a job run alone before it let go of them)
        with contextlib.suppress(RunDirTaken):  # taken by another process meanwhile: its records say so
            hold_job(Path(job.config.hydra.runtime.output_dir), key=f"sweep job {job.number}")
    for job in jobs:
        with member_job(launcher, job):
            start_job(launcher, job)
            try:
                members.append(build_member(len(members), job, job.overrides, job.context, data))
            except Exception as error:  # noqa: BLE001 - its own run will report it in its own words
                print(f"{PREFIX} {job.label} runs alone: building it failed ({type(error).__name__})")
                alone.append(job)
    if len(members) < launcher.min_members:
        for member in members:
            print(f"{PREFIX} {member.job.label} runs alone: the other jobs of its population could not be built")
        alone = jobs
        members = []
    if members:
        print(f"{PREFIX} {len(members)} jobs train together as one population: {_numbers(m.job for m in members)}")

        @contextmanager
        def context(member: Any) -> Iterator[None]:
            with member_job(launcher, member.job):
                yield

        try:
            summaries = train_population(members, started, context, pictures=launcher.pictures)
        except Exception as error:  # noqa: BLE001 - the jobs then run one at a time, each in its own words
            print(
                f"{PREFIX} the population of jobs {_numbers(m.job for m in members)} failed "
                f"({type(error).__name__}: {error}); its jobs run one at a time"
            )
            for member in members:
                _clean(member.run_dir)
                with open_dict(member.job.config):
                    member.job.config.ckpt_path = None  # its checkpoints are gone with the rest: it starts afresh
            alone = sorted([*alone, *(member.job for member in members)], key=lambda job: job.number)
            members = []
        else:
            for member, summary in zip(members, summaries, strict=True):
                with member_job(launcher, member.job):
                    results[member.job.number] = end_job(launcher, member.job, summary)
    for job in alone:
        results[job.number] = run_alone(launcher, job)
    return results


def _numbers(jobs: Any) -> str:
    return ", ".join(str(job.number) for job in jobs)


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Run the batch: see the module docstring."""
    from dlbench.population.grouping import differing_keys
    from dlbench.run.jobs import release_jobs

    setup_globals()
    assert launcher.config is not None
    release_jobs()  # the jobs of the sweep's previous batch are over
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    jobs = [compose(launcher, initial_job_idx + index, overrides) for index, overrides in enumerate(job_overrides)]
    for job in jobs:
        decide(job)
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        if job.done is not None:
            continue
        if job.reason is not None:
            print(f"{PREFIX} {job.label} runs alone: {job.reason}")
        else:
            groups.setdefault(job.key, []).append(job)
    if len(groups) > 1:
        sizes = " + ".join(str(len(group)) for group in groups.values())
        apart = ", ".join(differing_keys(list(groups))) or "their configs"
        print(f"{PREFIX} {len(groups)} populations ({sizes} jobs), kept apart by {apart}")
    units: list[list[Job]] = []
    for group in groups.values():
        if len(group) < launcher.min_members:
            for job in group:
                print(f"{PREFIX} {job.label} runs alone: no other job shares its config apart from per-member keys")
            units += [[job] for job in group]
        else:
            units.append(group)
    units += [[job] for job in jobs if job.reason is not None]
    units.sort(key=lambda unit: unit[0].number)
    results: dict[int, JobReturn] = {}
    for job in jobs:
        if job.done is not None:
            with member_job(launcher, job):
                results[job.number] = end_job(launcher, job, job.done)
    run_units = getattr(launcher, "run_units", None)  # backend=ray: each unit one Ray task (dlbench.cluster)
    if run_units is not None:
        release_jobs()  # the Ray tasks take their jobs' directories themselves
        results.update(run_units(launcher, units))
        units = []
    for unit in units:
        if len(unit) == 1:
            results[unit[0].number] = run_alone(launcher, unit[0])
        else:
            results.update(run_population(launcher, unit))
    return [results[job.number] for job in jobs]
