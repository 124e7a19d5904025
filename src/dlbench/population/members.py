"""One member of a population: everything its standalone job would build, except the Trainer.

`build_member` resolves the job's plan and builds it with the very functions a standalone run uses
(`dlbench.run.builders`: data, network, task, callbacks, loggers), so the member's network starts
from the weights its standalone run starts from and its callbacks and loggers are the very objects
a standalone run would have. The member's `Task` is not trained itself: it holds the member's
history, its network (the member's numbers are copied in when a checkpoint, a picture or the
summary needs them), its loss and its own torch optimizer and scheduler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ProgressBar
from torch import Tensor

from dlbench.config.context import RunContext
from dlbench.config.plan import Facts, RunPlan, resolve
from dlbench.data.module import InMemoryDataModule
from dlbench.loggers.protocol import start_loggers
from dlbench.loggers.wandb_logger import DlbenchWandbLogger
from dlbench.run.builders import build_callbacks, build_loggers, build_network, build_task
from dlbench.tasks import Task


@dataclass
class Member:
    """A member's parts and, once trained, what happened to it."""

    index: int
    plan: RunPlan  # the member's plan, as its standalone run resolves it
    cfg: DictConfig  # the plan's config (every interpolation resolved, no `hydra` node), attribute access
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
    augment_generator: torch.Generator | None = None  # its `dataset.augment` draws (made at its first batch)
    augment_state: Any = None  # a resumed member's: where its augmentation draws go on

    @cached_property
    def max_epochs(self) -> int | None:
        """The member's own `trainer.max_epochs` (a per-member key: it stops there, as one stopped early);
        read once: an OmegaConf lookup per member per epoch was a visible share of a large population's."""
        return self.cfg.trainer.get("max_epochs")

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    def augmented(self, inputs: Tensor) -> Tensor:
        """Its training batch augmented as its run alone's data module augments it, with its own draws."""
        datamodule = self.datamodule
        if self.augment_generator is None or self.augment_generator.device != inputs.device:
            self.augment_generator = datamodule.augment_generator(inputs.device, 0, self.augment_state)
            self.augment_state = None
        return datamodule.augment(inputs, self.augment_generator, datamodule.augment_fill())

    def data_state(self) -> dict[str, Any]:
        """What its run alone's data module keeps in a checkpoint (`InMemoryDataModule.state_dict`)."""
        return {"augment_generator": self.augment_generator.get_state()} if self.augment_generator is not None else {}


class DataModules:
    """Members whose dataset config is the same share one data module, when building it leaves
    torch's random stream as `seed_everything` left it (else the member's network would start
    from other weights than in its standalone run, which builds the data first)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, int], InMemoryDataModule] = {}

    def get(self, plan: RunPlan) -> InMemoryDataModule:
        """The plan's data module, after `seed_everything(plan.seed)` as `build_data` does."""
        pl.seed_everything(plan.seed, workers=True, verbose=False)
        key = (json.dumps(dict(plan.dataset), sort_keys=True, default=str), plan.seed)
        state = torch.random.get_rng_state()
        if key in self._built:
            return self._built[key]
        datamodule = instantiate(plan.dataset, _convert_="all")
        datamodule.setup()
        if torch.equal(state, torch.random.get_rng_state()):
            self._built[key] = datamodule
        return datamodule


def build_member(index: int, job: Any, overrides: list[str], context: RunContext, data: DataModules) -> Member:
    """The member's data, network, task, optimizer, callbacks and loggers, as a standalone run builds
    them from its plan (`dlbench.run.execute.prepare` and `dlbench.run.builders`).

    Raises `ConfigError` for a bad value exactly where a standalone run would."""
    plan = resolve(job.config, context)
    datamodule = data.get(plan)
    facts = Facts(datamodule.spec, datamodule.train_size, 1, datamodule.effective_batch_size(1))
    plan = resolve(job.config, context, facts=facts)
    model = build_network(plan, datamodule)
    task = build_task(plan, model, datamodule.spec)
    # the population's Trainer shows one bar for all members (population/fit.py): none of a member's own
    callbacks = [callback for callback in build_callbacks(plan) if not isinstance(callback, ProgressBar)]
    loggers = build_loggers(plan)
    # W&B keeps one run per process: a member's W&B run is written after the fit (population.fit);
    # the other loggers start as in a standalone run
    start_loggers([logger for logger in loggers if not isinstance(logger, DlbenchWandbLogger)], plan.config)
    configured = task.configure_optimizers()
    if isinstance(configured, dict):
        optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    else:
        optimizer, scheduler = configured, None
    cfg = OmegaConf.create(dict(plan.config))
    member = Member(
        index, plan, cfg, job, overrides, plan.output_dir, datamodule, task, optimizer, scheduler, callbacks, loggers
    )
    member.rng_state = torch.random.get_rng_state()  # last: where the member's training draws start
    return member
