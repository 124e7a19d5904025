"""One run, as data flowing through: config -> plan -> data -> network -> task -> trainer -> summary.

`train(cfg)` is what `train.py` calls for every job of a run or a sweep. It returns the best value
of the monitored metric so Hydra's sweepers (Optuna) can optimise it. The decisions are made by
`dlbench.config.plan.resolve`, again as the run learns the data and the finders' suggestions;
`dlbench.run.builders` instantiates them; `dlbench.run.summary` writes what happened.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from dlbench.callbacks.checkpoint import last_checkpoint, recorded_checkpoints
from dlbench.callbacks.criterion import criterion_summary
from dlbench.callbacks.ddp import config_hash, rank_config_hashes
from dlbench.callbacks.graceful_stop import hand_off, interrupt_reason
from dlbench.config.context import RunContext, from_hydra
from dlbench.config.devices import check_compiler, check_devices, world_size
from dlbench.config.early import check_callback_classes
from dlbench.config.plan import EVALUATED_AS_TRAINED, Facts, RunPlan, resolve
from dlbench.config.targets import check_stored_config
from dlbench.data.module import InMemoryDataModule
from dlbench.errors import ConfigError
from dlbench.loggers.protocol import finish_loggers, start_loggers
from dlbench.models.measure import count_parameters, forward_flops
from dlbench.records.atomic import DiskFull, disk_full, disk_full_sentence
from dlbench.records.summary import Summary, write_summary
from dlbench.reporting.console import print_run_table
from dlbench.run.builders import build_data, build_network, build_task, build_trainer
from dlbench.run.checkpoints import CheckpointError, check_checkpoint_fits, read_for_lightning
from dlbench.run.summary import Outcome, make_summary, stop_reason
from dlbench.runtime import startup
from dlbench.tasks import Task, TrainingDiverged
from dlbench.training.threads import threads_for_run

log = logging.getLogger(__name__)

# The CSV logger writes metrics.csv into the run directory Hydra already made; nothing is lost.
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")


def stored_config(ckpt_path: str, own: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config a checkpoint was trained with (data only: weights_only, no code is unpickled; kept
    for Lightning's own read of the same file). A checkpoint that cannot be read, or whose stored config
    names code that neither the shipped configs nor the command's own config (`own`) name, is refused
    in one sentence (`dlbench.config.targets`)."""
    stored = read_for_lightning(ckpt_path, evaluating=True).get("dlbench_config")
    if stored is not None:
        if not isinstance(stored, Mapping):
            raise CheckpointError(
                f"ckpt_path={ckpt_path} holds no config to evaluate with; use a checkpoint written by dlbench."
            )
        check_stored_config(stored, EVALUATED_AS_TRAINED, own, ckpt_path)
    return stored


def prepare(cfg: DictConfig, context: RunContext) -> tuple[RunPlan, InMemoryDataModule]:
    """The plan with everything known before the network is built, and the data it trains on."""
    plan = resolve(cfg, context)
    stored = stored_config(plan.ckpt_path, plan.config) if not plan.train and plan.ckpt_path else None
    if stored is not None:
        plan = resolve(cfg, context, stored=stored)
    check_devices(plan.trainer, context.trainer_preset)
    check_compiler(plan.compile, plan.trainer)
    check_callback_classes(plan.callbacks)  # before the data is read: a `_target_` that is not a callback class
    startup.stage("reading the data")
    datamodule = build_data(plan)
    world = world_size(plan.trainer)
    facts = Facts(datamodule.spec, datamodule.train_size, world, datamodule.effective_batch_size(world))
    plan = resolve(cfg, context, stored=stored, facts=facts)
    if plan.tune is not None:
        from dlbench.run.tuning import tune

        startup.stage("tuning")
        plan = resolve(cfg, context, stored=stored, facts=facts, tuning=tune(plan, datamodule))
        datamodule = build_data(plan)  # the run starts from its seed again, with the tuned batch size
    return plan, datamodule


def build(cfg: DictConfig, context: RunContext | None = None) -> tuple[InMemoryDataModule, Task, pl.Trainer]:
    """Everything a run needs, built from its plan; raises ConfigError before anything trains."""
    plan, datamodule = prepare(cfg, context or from_hydra())
    task, trainer = _task_and_trainer(plan, datamodule)
    return datamodule, task, trainer


def _task_and_trainer(plan: RunPlan, datamodule: InMemoryDataModule) -> tuple[Task, pl.Trainer]:
    startup.stage("building the network")
    model = build_network(plan, datamodule)
    task = build_task(plan, model, datamodule.spec)
    trainer = build_trainer(plan)
    threads_for_run(plan.config.get("threads", "auto"), model, datamodule, trainer)
    startup.stage("starting the loggers")
    start_loggers(trainer.loggers, plan.config)
    return task, trainer


def train(cfg: DictConfig, context: RunContext | None = None) -> float | None:
    """Train and test as `cfg` says; write `summary.json`; return the best monitored value."""
    outcome = Outcome()
    plan, datamodule = prepare(cfg, context or from_hydra())
    task, trainer = _task_and_trainer(plan, datamodule)
    check_checkpoint_fits(plan, task)  # a ckpt_path this run cannot restore is refused in one sentence
    outcome.parameters = count_parameters(task.model)
    outcome.flops_per_example = forward_flops(task.model, task.spec.input_shape)
    startup.training_starts()  # from here SIGTERM is Lightning's: training stops between two steps
    try:
        if plan.train:
            trainer.fit(task, datamodule=datamodule, ckpt_path=plan.ckpt_path)
            outcome.stop_reason = _stop_reason(trainer)  # now: test() restores callback state from the best checkpoint
        if plan.test:
            checkpoint = _test_checkpoint(plan, trainer)
            results = trainer.test(task, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
            if results:
                outcome.test_metrics = {key.split("/", 1)[1]: float(value) for key, value in results[0].items()}
            if plan.config.get("predict") and trainer.is_global_zero:  # the weights just tested, on that split
                from dlbench.run.predict import write_predictions

                written = write_predictions(task, datamodule, str(plan.config["predict"]), plan.output_dir)
                print(f"predictions: {written}")
    except TrainingDiverged as error:
        outcome.status, outcome.stop_reason = "diverged", str(error)
        outcome.diverged = {"epoch": error.epoch, "step": error.step, "loss": error.loss}
    except (KeyboardInterrupt, SystemExit) as error:
        outcome.status, outcome.stop_reason = "interrupted", interrupt_reason(trainer, error)  # which signal, where
        _finish(plan, outcome, task, trainer)
        hand_off(trainer)  # a cluster's preemption warning (SIGUSR2): its launcher requeues the job now
        raise SystemExit(130) from None
    except Exception as error:
        outcome.status, outcome.stop_reason = "failed", f"{type(error).__name__}: {error}"
        mistake = _unknown_monitor(plan, error)
        if mistake is not None:  # Lightning finds it after the first validation: said as any mistake is
            outcome.stop_reason = str(mistake)
            _finish(plan, outcome, task, trainer)
            raise mistake from None
        if disk_full(error):  # one sentence, the previous last.ckpt intact, summary.json final
            outcome.stop_reason = disk_full_sentence(plan.output_dir, _last_on_disk(trainer))
            try:
                _finish(plan, outcome, task, trainer)
            except OSError as again:
                if not disk_full(again):
                    raise
            raise DiskFull(outcome.stop_reason) from None
        _finish(plan, outcome, task, trainer)
        raise
    summary = _finish(plan, outcome, task, trainer)
    return summary.best.value if summary.best else None


def _unknown_monitor(plan: RunPlan, error: BaseException) -> ConfigError | None:
    """`monitor=val/foo`: Lightning's ModelCheckpoint says it could not find the key, with the keys it has."""
    found = re.search(r"could not find the monitored key in the returned metrics: (\[[^\]]*\])", str(error))
    if found is None:
        return None
    names = [name for name in re.findall(r"'([^']+)'", found.group(1)) if name.startswith(("val/", "train/"))]
    return ConfigError(
        f"monitor={plan.monitor} is not a metric this run logs; choose one of {', '.join(names) or 'val/loss'}."
    )


def _last_on_disk(trainer: pl.Trainer) -> str | None:
    """The path of the run's last.ckpt when one is on disk (the one a resume starts from)."""
    path = getattr(trainer.checkpoint_callback, "last_model_path", None) or None
    return path if path and Path(path).is_file() else None


def _test_checkpoint(plan: RunPlan, trainer: pl.Trainer) -> str | None:
    """The plan's checkpoint to test; None (the weights as they are) when training saved no best one."""
    if plan.train and not (trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path):
        return None
    return plan.test_checkpoint


def _stop_reason(trainer: pl.Trainer) -> str:
    return stop_reason(trainer.callbacks, trainer.current_epoch, trainer.max_epochs)


def _finish(plan: RunPlan, outcome: Outcome, task: Task, trainer: pl.Trainer) -> Summary:
    """What a run alone's trainer says of how it ran, then `record`."""
    outcome.history = task.history
    if outcome.stop_reason is None:
        outcome.stop_reason = _stop_reason(trainer) if plan.train else "evaluation only"
    outcome.devices = {
        "accelerator": type(trainer.accelerator).__name__,
        "world_size": trainer.world_size,
        "precision": str(trainer.precision),
        "config_hash_per_rank": rank_config_hashes(trainer) or [config_hash(plan.config)],
    }
    return record(plan, outcome, trainer.callbacks, trainer.loggers, write=trainer.is_global_zero)


def record(
    plan: RunPlan, outcome: Outcome, callbacks: Sequence[Any], loggers: Sequence[Any], write: bool = True
) -> Summary:
    """Everything a run writes after its fit, the same for a run alone and a population's member:
    the criterion and checkpoints its callbacks hold, `summary.json` and the closing table (when
    `write`: rank 0 only), the loggers' runs ended, and the line that says it diverged."""
    outcome.criterion = criterion_summary(callbacks)
    checkpoint = next((callback for callback in callbacks if isinstance(callback, ModelCheckpoint)), None)
    outcome.checkpoints = recorded_checkpoints(checkpoint)
    outcome.last_checkpoint = last_checkpoint(checkpoint)  # the epoch and step last.ckpt holds
    summary = make_summary(plan, outcome)
    if write:
        write_summary(plan.output_dir, summary)
        print_run_table(summary)
    finish_loggers(loggers, summary)  # ends the W&B run: failed on an exception, finished otherwise
    if write and outcome.status == "diverged":
        print(f"Training diverged: {outcome.stop_reason}. See {summary.run_dir}/summary.json")
    return summary
