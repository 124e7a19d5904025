"""One member of a population: everything its standalone job would build, except the Trainer.

`build_member` follows `dlbench.run.execute.build` step for step (the same checks, the same
`seed_everything`, data module, model, initializer, Task, callbacks and loggers), so the member's
network starts from the weights its standalone run starts from and its callbacks and loggers are
the very objects a standalone run would have. The member's `Task` is not trained itself: it holds
the member's history, its network (the member's numbers are copied in when a checkpoint, a
picture or the summary needs them), its loss and its own torch optimizer and scheduler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dlbench.callbacks.run_guard import RunGuard
from dlbench.config.checks import check_config
from dlbench.data.module import InMemoryDataModule
from dlbench.models import build_model
from dlbench.tasks import Task
from dlbench.training.initializers import initialize
from dlbench.training.optim import make_optimizer, scale_learning_rate
from dlbench.training.regularizers import check_regularizers, make_penalties, task_options


@dataclass
class Member:
    """A member's parts and, once trained, what happened to it."""

    index: int
    cfg: DictConfig  # the job's config, every interpolation resolved (no `hydra` node)
    job: Any  # the launcher's handle for the job (its Hydra config, overrides, number)
    overrides: list[str]
    run_dir: Path
    datamodule: InMemoryDataModule
    task: Task
    optimizer: torch.optim.Optimizer
    scheduler: Any
    callbacks: list[pl.Callback]
    loggers: list[Any]
    # -- outcome ------------------------------------------------------------------------------
    status: str = "completed"
    stop_reason: str | None = None
    diverged: dict[str, Any] | None = None
    stopped: bool = False  # no longer trains (early stopped, diverged, interrupted)
    final_epoch: int | None = None  # the trainer's current_epoch when it stopped (as after fit)
    final_step: int | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    rng_state: Any = None  # torch's CPU generator state after the build: where its training draws start

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)


def resolved(cfg: DictConfig) -> DictConfig:
    """A copy of the job's config without Hydra's node and with every interpolation replaced by its
    value, made while Hydra's global config is this job's: later nothing reads Hydra's global state
    (`${hydra:runtime.output_dir}` differs from member to member)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    copy = OmegaConf.create(container)
    assert isinstance(copy, DictConfig)
    return copy


class DataModules:
    """Members whose dataset config is the same share one data module, when building it leaves
    torch's random stream as `seed_everything` left it (else the member's network would start
    from other weights than in its standalone run, which builds the data first)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, int], InMemoryDataModule] = {}

    def get(self, cfg: DictConfig) -> InMemoryDataModule:
        dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
        key = (json.dumps(dataset, sort_keys=True, default=str), int(cfg.seed))
        state = torch.random.get_rng_state()
        if key in self._built:
            return self._built[key]
        datamodule = instantiate(cfg.dataset, _convert_="all")
        datamodule.setup()
        if torch.equal(state, torch.random.get_rng_state()):
            self._built[key] = datamodule
        return datamodule


def build_member(index: int, cfg: DictConfig, job: Any, overrides: list[str], data: DataModules) -> Member:
    """The member's data, network, task, optimizer, callbacks and loggers, as `build(cfg)` makes them.

    Raises `ConfigError` for a bad value exactly where a standalone run would."""
    check_config(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = data.get(cfg)
    spec = datamodule.spec
    check_regularizers(cfg, spec)
    model = build_model(cfg.model, spec)
    initialize(model, **cfg.initializer, datamodule=datamodule)
    scheduler_factory = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    task = Task(
        model,
        spec,
        optimizer=make_optimizer(cfg.optimizer),
        scheduler=scheduler_factory,
        loss=cfg.get("loss", "auto"),
        penalties=make_penalties(cfg.get("penalty"), model, cfg.model._target_.rsplit(".", 1)[-1]),
        monitor=cfg.monitor,
        **task_options(cfg),
    )
    run_dir = Path(cfg.paths.output_dir)
    callbacks = [instantiate(callback) for callback in (cfg.get("callbacks") or {}).values() if callback]
    callbacks = [callback for callback in callbacks if getattr(callback, "enabled", True)]
    callbacks.append(RunGuard(OmegaConf.to_container(cfg, resolve=True), run_dir / "checkpoints"))  # type: ignore[arg-type]
    loggers = [instantiate(logger) for logger in (cfg.get("logger") or {}).values() if logger]
    scale_learning_rate(task, cfg.optimizer, datamodule.effective_batch_size(1))
    configured = task.configure_optimizers()
    if isinstance(configured, dict):
        optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    else:
        optimizer, scheduler = configured, None
    member = Member(index, cfg, job, overrides, run_dir, datamodule, task, optimizer, scheduler, callbacks, loggers)
    member.rng_state = torch.random.get_rng_state()
    return member
