"""Instantiate a run's plan: the data, the network, the task and the trainer. No decisions here.

Everything these functions need is in the `RunPlan`; they make objects from it in the order the
data flows (data -> network -> task; callbacks and loggers -> trainer) and change nothing in it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from hydra.utils import get_class, instantiate
from torch import nn

from dlbench.callbacks.ddp import SameConfigOnAllRanks
from dlbench.callbacks.run_guard import guard_callbacks
from dlbench.config.early import check_callback_classes
from dlbench.config.plan import RunPlan
from dlbench.data.module import InMemoryDataModule
from dlbench.errors import ConfigError, find_config_error
from dlbench.models import build_model
from dlbench.run.checkpoints import SafeCheckpointIO
from dlbench.run.compiling import compile_network
from dlbench.tasks import Task
from dlbench.training.initializers import initialize
from dlbench.training.regularizers import make_penalties


def build_data(plan: RunPlan) -> InMemoryDataModule:
    """The data module, set up (its `spec` known). Seeds every generator first, as the run will."""
    pl.seed_everything(plan.seed, workers=True, verbose=False)
    datamodule = instantiate(plan.dataset, _convert_="all")
    datamodule.setup()
    return datamodule


def build_network(plan: RunPlan, datamodule: Any) -> nn.Module:
    """The network for the data's spec, initialised (and compiled) as the plan says."""
    model = build_model(plan.model, plan.network_spec or datamodule.spec)
    initialize(model, **plan.initializer, datamodule=datamodule)
    if plan.compile is not None:
        compile_network(model, plan.compile)
    return model


def build_task(plan: RunPlan, model: nn.Module, spec: Any) -> Task:
    """The LightningModule: the network with its loss, penalties, optimizer and schedule."""
    scheduler = instantiate(plan.scheduler) if plan.scheduler else None
    options = plan.task
    task = Task(
        model,
        spec,
        optimizer=instantiate(plan.optimizer, _convert_="all"),
        scheduler=scheduler,
        loss=options.loss,
        penalties=make_penalties(options.penalties, model, plan.model_name),
        monitor=options.monitor,
        label_smoothing=options.label_smoothing,
        input_noise=options.input_noise,
        adversarial_epsilon=options.adversarial_epsilon,
        output=dict(plan.output),
        tolerance=options.tolerance,
    )
    if plan.train:
        check_monitored(plan, task.monitorable())
    return task


def check_monitored(plan: RunPlan, names: list[str]) -> None:
    """`monitor=` and a callback's own `monitor` name a metric the run logs: before the first epoch,
    not when Lightning's checkpoint first looks for it after one."""
    wanted = [("monitor", plan.monitor)]
    wanted += [
        (f"callbacks.{name}.monitor", str(settings["monitor"]))
        for name, settings in plan.callbacks.items()
        if isinstance(settings, Mapping) and isinstance(settings.get("monitor"), str)
    ]
    for key, metric in wanted:
        if metric not in names:
            raise ConfigError(f"{key}={metric} is not a metric this run logs; choose one of {', '.join(names)}.")


def build_trainer(plan: RunPlan, *, record: bool = True, **overrides: Any) -> pl.Trainer:
    """The Trainer with the plan's callbacks and loggers (`record=False`: neither, for the finders'
    trial fits, which may also change Trainer arguments through `overrides`)."""
    if not record:
        trainer = instantiate(plan.trainer, callbacks=[], logger=False, enable_checkpointing=False, **overrides)
        trainer.strategy.checkpoint_io = SafeCheckpointIO()  # the finders restore the model from a checkpoint
        return trainer
    loggers = build_loggers(plan)
    trainer = instantiate(plan.trainer, callbacks=build_callbacks(plan), logger=loggers or False)
    if trainer.world_size > 1:  # only several processes can disagree; one more callback costs every step
        trainer.callbacks.append(SameConfigOnAllRanks(plan.config))
    return trainer


def build_callbacks(plan: RunPlan) -> list[pl.Callback]:
    """The plan's callbacks (those switched on), and the run guard every run has (safe checkpoints,
    stopping between steps, exact resume, the record on disk after every epoch)."""
    check_callback_classes(plan.callbacks)
    callbacks = [_callback(name, settings) for name, settings in plan.callbacks.items()]
    context = plan.context
    callbacks += guard_callbacks(
        dict(plan.config), plan.output_dir, context.overrides, context.choices, checkpoint_io=SafeCheckpointIO
    )
    if context.optuna_trial is not None:  # a trial of a pruning Optuna search: its epochs go to the study
        from dlbench.callbacks.optuna_pruning import OptunaPruning

        callbacks.append(OptunaPruning(**context.optuna_trial, monitor=str(plan.config["monitor"])))
    return callbacks


def _callback(name: str, settings: Mapping[str, Any]) -> pl.Callback:
    """One callback; arguments its class does not take are one sentence, not Hydra's traceback."""
    try:
        return instantiate(settings)
    except Exception as error:  # noqa: BLE001 - a ConfigError inside is kept, anything else said in one sentence
        mistake = find_config_error(error)
        if mistake is not None:
            raise mistake from None
        cause = error.__cause__ or error
        first = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        raise ConfigError(
            f"callbacks.{name} ({settings.get('_target_')}) could not be made: {first}; set its arguments as "
            f"callbacks.{name}.<argument>=... (`python train.py --cfg job` shows them)."
        ) from None


def build_loggers(plan: RunPlan) -> list[Any]:
    """The plan's loggers."""
    return [_logger(settings, plan) for settings in plan.loggers.values()]


def _logger(settings: Any, plan: RunPlan) -> Any:
    """A logger; those that take the run's context get it (a sweep's W&B group or MLflow parent run,
    the job's overrides as the run's name)."""
    if "context" in inspect.signature(get_class(str(settings["_target_"]))).parameters:
        return instantiate(settings, context=plan.context)
    return instantiate(settings)
