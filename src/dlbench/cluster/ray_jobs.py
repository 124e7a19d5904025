"""A sweep's jobs as Ray tasks: `hydra/launcher=ray`, and the population launcher's `backend: ray`.

The launching process composes every job's config exactly as Hydra's basic launcher does (same
job number, same run directory `<sweep dir>/<job number>`), sends each job to Ray as one task
with the resources of `hydra.launcher.remote` (`num_cpus`, `num_gpus`, ...), and collects the
`JobReturn`s in the order of the overrides; the sweep's report, table and exit status are then
made in the launching process by the same Hydra callback as with any launcher. A task runs
Hydra's own `run_job` with `train.py`'s task function, so a job on a Ray node is the job the
basic launcher would run: its run directory, `.hydra/`, `train.log`, loggers, resume.

Every node writes into the run directories the command named: the sweep directory must be on
storage every node sees (NFS, a cluster filesystem); that is the user's, as with SLURM.

A node that dies takes its tasks with it. Ray runs a lost task again on another node
(`remote.max_retries`, 3), and the job, finding its directory with a `running` summary whose
process is gone and a `last.ckpt`, resumes from it (`dlbench.run.jobs`). When the retries are
spent, the job is recorded `lost` in its `summary.json`, with the node named, and the sweep ends
with exit status 1; the same command run again resumes it from its `last.ckpt`.

Ray is imported only here, when a sweep is launched on it, never by Hydra's plugin discovery.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

NODE_FILE = "ray_node.json"  # in each job's run directory: the Ray node that ran (or runs) it
LOCAL_OBJECT_STORE = 100 * 1024**2  # a local Ray's object store: jobs exchange only configs and returns
PREFIX = "ray:"


def start_ray(init: dict[str, Any]) -> None:
    """`ray.init` with the launcher's `init` keywords (null ones left out), once per process.

    A local Ray (no address) gets a small object store unless one is given; on an existing cluster
    the keywords that size a local Ray are dropped, since Ray refuses them there.
    """
    import ray

    if ray.is_initialized():
        return
    kwargs = {key: value for key, value in init.items() if value is not None}
    if kwargs.get("address") is None:
        kwargs.setdefault("object_store_memory", LOCAL_OBJECT_STORE)
    else:
        for key in ("num_cpus", "num_gpus", "object_store_memory"):
            kwargs.pop(key, None)
    ray.init(**kwargs)


def compose(launcher: Any, number: int, overrides: Sequence[str]) -> DictConfig:
    """The job's config, as Hydra's basic launcher composes it, with its run directory resolved."""
    config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(config):
        config.hydra.job.id = f"ray_{number}"
        config.hydra.job.num = number
    HydraConfig.instance().set_config(config)
    output_dir = os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir))
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)
    return config


def node_record() -> dict[str, Any]:
    """Where this task runs: the Ray node (id and address), the host and the process."""
    import ray

    context = ray.get_runtime_context()
    return {
        "node_id": context.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.time(),
    }


def write_node(run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / NODE_FILE).write_text(json.dumps(node_record(), indent=2) + "\n")


def read_node(run_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((run_dir / NODE_FILE).read_text()))
    except (OSError, ValueError):
        return {}


def in_task(singleton_state: Any, config: DictConfig, work: Callable[[], Any]) -> Any:
    """Inside a Ray task: Hydra's globals as in the launching process, the node recorded, then `work`."""
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(config)
    write_node(Path(config.hydra.runtime.output_dir))
    return work()


def _run_job(hydra_context: Any, config: DictConfig, task_function: Any, singleton_state: Any) -> JobReturn:
    """One job in a Ray task: Hydra's `run_job`, as the basic launcher runs it."""
    return in_task(
        singleton_state,
        config,
        lambda: run_job(
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        ),
    )


def lost_reason(run_dir: Path, error: BaseException) -> str:
    """One sentence: which node the job was lost with, and how to resume it."""
    node = read_node(run_dir)
    where = (
        f"its Ray node {node.get('node_ip', '?')} (host {node.get('host', '?')}, node id "
        f"{str(node.get('node_id', '?'))[:12]})"
        if node
        else "its Ray task before it started"
    )
    return f"lost with {where}: {type(error).__name__}; run the same command again to resume it from its last.ckpt"


def record_lost(config: DictConfig, error: BaseException) -> JobReturn:
    """A job whose task Ray could not finish: `lost` in its summary.json (with the node), and a return
    like a failed dlbench job's (no value), so the sweep goes on and its report says what happened."""
    from dlbench.records.summary import Summary, whole_summary, write_summary

    run_dir = Path(config.hydra.runtime.output_dir)
    reason = lost_reason(run_dir, error)
    overrides = list(OmegaConf.to_container(config.hydra.overrides.task))
    summary = whole_summary(run_dir)  # None also when the lost node cut it short: replaced
    if summary is None or summary.status == "running":
        fields = {
            "metrics": {"train": {}, "val": {}, "test": {}},
            "best": None,
            "epochs_run": 0,
            "history": [],
            "overrides": overrides,
            "run_dir": str(run_dir.resolve()),
            **(summary.model_dump(exclude_unset=True) if summary is not None else {}),
            "status": "lost",
            "stop_reason": reason,
        }
        write_summary(run_dir, Summary.model_validate(fields))
    print(f"{PREFIX} job {config.hydra.job.num} ({' '.join(filter_overrides(overrides))}) {reason}")
    result = JobReturn()
    result.overrides = overrides
    task_cfg = copy.deepcopy(config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    result.cfg = task_cfg
    result.hydra_cfg = config
    result.working_dir = str(run_dir)
    result.return_value = None
    result.status = JobStatus.COMPLETED
    return result


def gather(refs: list[Any], configs: list[DictConfig]) -> list[Any]:
    """Each task's result in order; a task Ray lost (its node died, its worker was killed) is recorded."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    results = []
    for ref, config in zip(refs, configs, strict=True):
        try:
            results.append(ray.get(ref))
        except RayTaskError:
            raise  # an error of ours inside the task: not a lost node, and it must be seen
        except RayError as error:
            results.append(record_lost(config, error))
    return results


def remote_options(remote: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in remote.items() if value is not None}


def launch(launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Run the batch on Ray: see the module docstring."""
    import ray

    setup_globals()
    assert launcher.config is not None and launcher.hydra_context is not None
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    start_ray(launcher.init)
    task = ray.remote(**remote_options(launcher.remote))(_run_job)
    state = Singleton.get_state()
    original = HydraConfig.instance().cfg
    try:
        configs = [compose(launcher, initial_job_idx + i, overrides) for i, overrides in enumerate(job_overrides)]
    finally:
        HydraConfig.instance().cfg = original
    resources = ray.cluster_resources()
    print(
        f"{PREFIX} {len(configs)} jobs as Ray tasks ({remote_options(launcher.remote)}) on "
        f"{len(ray.nodes())} node(s) with {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs"
    )
    refs = [task.remote(launcher.hydra_context, config, launcher.task_function, state) for config in configs]
    return gather(refs, configs)


def _run_unit(launcher: Any, unit: list[Any], singleton_state: Any) -> dict[int, JobReturn]:
    """One unit of the population launcher in a Ray task: a population, or a job run alone."""
    from dlbench.population.launch import run_alone, run_population

    def work() -> dict[int, JobReturn]:
        for job in unit[1:]:
            write_node(Path(job.config.hydra.runtime.output_dir))
        if len(unit) == 1:
            return {unit[0].number: run_alone(launcher, unit[0])}
        return run_population(launcher, unit)

    return in_task(singleton_state, unit[0].config, work)


def run_units(launcher: Any, units: list[list[Any]]) -> dict[int, JobReturn]:
    """The population launcher's `backend: ray`: each unit (a population, or a job that runs alone) is
    one Ray task with the resources of `hydra.launcher.ray.remote`; a unit lost with its node has
    each of its jobs recorded `lost` (see `record_lost`)."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    options = dict(launcher.ray or {})
    start_ray(dict(options.get("init") or {}))
    remote = remote_options(dict(options.get("remote") or {}))
    task = ray.remote(**remote)(_run_unit)
    state = Singleton.get_state()
    print(f"{PREFIX} {len(units)} populations and lone jobs as Ray tasks ({remote}) on {len(ray.nodes())} node(s)")
    refs = [task.remote(launcher, unit, state) for unit in units]
    results: dict[int, JobReturn] = {}
    for ref, unit in zip(refs, units, strict=True):
        try:
            results.update(ray.get(ref))
        except RayTaskError:
            raise
        except RayError as error:
            for job in unit:
                results[job.number] = record_lost(job.config, error)
    return results
