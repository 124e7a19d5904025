"""One run, as data flowing through: config -> data -> model -> task -> trainer -> summary.

`train(cfg)` is what `train.py` calls for every job of a run or a sweep. It returns the best
value of the monitored metric so Hydra's sweepers (Optuna) can optimise it.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dlbench.callbacks.criterion import criterion_summary
from dlbench.callbacks.run_guard import RunGuard
from dlbench.config.checks import check_config
from dlbench.config.devices import check_devices
from dlbench.loggers.wandb_logger import finish_loggers, start_loggers
from dlbench.models import build_model
from dlbench.models.measure import count_parameters, forward_flops
from dlbench.reporting.console import print_run_table
from dlbench.reporting.summary import best_epoch, git_commit, package_versions, write_summary
from dlbench.run.compiling import compile_network
from dlbench.runtime.ddp import (
    SameConfigOnAllRanks,
    check_launcher,
    check_shared_run_dir,
    config_hash,
    rank_config_hashes,
)
from dlbench.tasks import Task, TrainingDiverged
from dlbench.tasks.output_units import fit_output
from dlbench.training.initializers import initialize
from dlbench.training.optim import make_optimizer, scale_learning_rate
from dlbench.training.regularizers import check_regularizers, make_penalties, task_options

log = logging.getLogger(__name__)

# The CSV logger writes metrics.csv into the run directory Hydra already made; nothing is lost.
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")


def _overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (e.g. a test building a config by hand)
        return []


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, DictConfig) else value


def _config_for_evaluation(cfg: DictConfig) -> DictConfig:
    """With train=false, take the data and model the checkpoint was trained with."""
    checkpoint = torch.load(cfg.ckpt_path, map_location="cpu", weights_only=False)
    stored = checkpoint.get("dlbench_config")
    if stored is None:
        return cfg
    merged = OmegaConf.merge(cfg, {key: stored[key] for key in ("dataset", "model") if key in stored})
    return merged  # type: ignore[return-value]


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, Task, pl.Trainer]:
    """Everything a run needs, built in the order of DESIGN.md; raises ConfigError early."""
    check_config(cfg)
    check_devices(cfg.trainer)
    check_shared_run_dir(cfg)
    check_launcher(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.setup()
    spec = datamodule.spec
    check_regularizers(cfg, spec)
    network_spec, output = fit_output(cfg, spec)  # the loss and output unit against data and model; outputs needed
    model = build_model(cfg.model, network_spec)
    initialize(model, **cfg.initializer, datamodule=datamodule)
    compile_network(model, _plain(cfg.get("compile", False)), cfg.trainer.get("accelerator"))
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    task = Task(
        model,
        spec,
        optimizer=make_optimizer(cfg.optimizer),
        scheduler=scheduler,
        loss=cfg.get("loss", "auto"),
        penalties=make_penalties(cfg.get("penalty"), model, cfg.model._target_.rsplit(".", 1)[-1]),
        monitor=cfg.monitor,
        **task_options(cfg),
        output=output,
        tolerance=(cfg.get("task") or {}).get("tolerance"),
    )
    output_dir = Path(cfg.paths.output_dir)
    callbacks = [instantiate(callback) for callback in (cfg.get("callbacks") or {}).values() if callback]
    # a switched-off callback (`enabled: false`) is left out: Lightning calls every hook of every
    # callback each step and epoch, which a tiny model pays for
    callbacks = [callback for callback in callbacks if getattr(callback, "enabled", True)]
    callbacks.append(RunGuard(OmegaConf.to_container(cfg, resolve=True), output_dir / "checkpoints"))  # type: ignore[arg-type]
    loggers = [instantiate(logger) for logger in (cfg.get("logger") or {}).values() if logger]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    if trainer.world_size > 1:  # only several processes can disagree; one more callback costs every step
        trainer.callbacks.append(SameConfigOnAllRanks(cfg))  # type: ignore[attr-defined]
    scale_learning_rate(task, cfg.optimizer, datamodule.effective_batch_size(trainer.world_size))
    start_loggers(loggers, OmegaConf.to_container(cfg, resolve=True))  # type: ignore[arg-type]
    return datamodule, task, trainer


def train(cfg: DictConfig) -> float | None:
    """Train and test as `cfg` says; write `summary.json`; return the best monitored value."""
    if not cfg.train:
        cfg = _config_for_evaluation(cfg)
    started = time.perf_counter()
    datamodule, task, trainer = build(cfg)
    status, stop_reason, diverged = "completed", None, None
    test_metrics: dict[str, float] = {}
    try:
        if cfg.train and cfg.get("tune"):
            from dlbench.diagnostics.tuning import tune

            task.tuning = tune(cfg, trainer, task, datamodule)
        if cfg.train:
            trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
            stop_reason = _stop_reason(trainer)  # now: test() below restores callback state from the best checkpoint
        if cfg.test:
            checkpoint = (
                cfg.ckpt_path
                if not cfg.train
                else ("best" if trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path else None)
            )
            results = trainer.test(task, datamodule=datamodule, ckpt_path=checkpoint, verbose=False)
            test_metrics = {key.split("/", 1)[1]: float(value) for key, value in results[0].items()} if results else {}
    except TrainingDiverged as error:
        status, stop_reason = "diverged", str(error)
        diverged = {"epoch": error.epoch, "step": error.step, "loss": error.loss}
    except (KeyboardInterrupt, SystemExit) as error:
        status, stop_reason = "interrupted", f"{type(error).__name__} at epoch {trainer.current_epoch}"
        _finish(cfg, datamodule, task, trainer, started, status, stop_reason, test_metrics, diverged)
        raise SystemExit(130) from None
    except Exception as error:
        status, stop_reason = "failed", f"{type(error).__name__}: {error}"
        _finish(cfg, datamodule, task, trainer, started, status, stop_reason, test_metrics, diverged)
        raise
    summary = _finish(cfg, datamodule, task, trainer, started, status, stop_reason, test_metrics, diverged)
    if status == "diverged" and trainer.is_global_zero:
        print(f"Training diverged: {stop_reason}. See {summary['run_dir']}/summary.json")
    best = summary.get("best") or {}
    return best.get("value")


def _stop_reason(trainer: pl.Trainer) -> str:
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        message = getattr(callback, "stopping_reason_message", None)
        if message:
            return f"early stopping at epoch {getattr(callback, 'stopped_epoch', '?')}: {message}"
    if trainer.max_epochs is not None and trainer.current_epoch >= trainer.max_epochs:
        return f"reached max_epochs={trainer.max_epochs}"
    return "training ended"


def _finish(
    cfg: DictConfig,
    datamodule: Any,
    task: Task,
    trainer: pl.Trainer,
    started: float,
    status: str,
    stop_reason: str | None,
    test_metrics: dict[str, float],
    diverged: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write `summary.json` (rank 0 only) and print the closing table."""
    history = task.history
    last = history[-1] if history else {}
    by_split = {
        split: {key.split("/", 1)[1]: value for key, value in last.items() if key.startswith(split + "/")}
        for split in ("train", "val")
    }
    best_row = best_epoch(history, cfg.monitor, cfg.monitor_mode)
    epoch_times = [row["time/epoch_s"] for row in history if "time/epoch_s" in row]
    world = trainer.world_size
    effective_batch = datamodule.effective_batch_size(world)
    checkpoint = trainer.checkpoint_callback
    summary: dict[str, Any] = {
        "status": status,
        "stop_reason": stop_reason if stop_reason else (_stop_reason(trainer) if cfg.train else "evaluation only"),
        "diverged": diverged,
        "metrics": {**by_split, "test": test_metrics},
        "best": {"epoch": int(best_row["epoch"]), "metric": cfg.monitor, "value": best_row[cfg.monitor]}
        if best_row
        else None,
        "best_epoch": int(best_row["epoch"]) if best_row else None,
        "epochs_run": len(history),
        **criterion_summary(trainer),  # criterion and epochs_to_criterion (null when never met)
        "wall_time_s": time.perf_counter() - started,
        "time_per_epoch_s": sum(epoch_times) / len(epoch_times) if epoch_times else None,
        "samples_per_s": datamodule.train_size / (sum(epoch_times) / len(epoch_times)) if epoch_times else None,
        "parameters": count_parameters(task.model),
        "flops_per_example": forward_flops(task.model, task.spec.input_shape),
        "data": {
            "name": task.spec.name,
            "input_shape": list(task.spec.input_shape),
            "num_outputs": task.spec.num_outputs,
            "kind": task.spec.kind,
            "train_size": datamodule.train_size,
        },
        "devices": {
            "accelerator": type(trainer.accelerator).__name__,
            "world_size": world,
            "precision": str(trainer.precision),
            "config_hash_per_rank": rank_config_hashes(trainer) or [config_hash(cfg)],
        },
        "effective_batch_size": effective_batch,
        "lr": getattr(task, "lr", cfg.optimizer.get("lr")),
        "seed": cfg.seed,
        "checkpoints": {
            "best": getattr(checkpoint, "best_model_path", None) or None,
            "last": getattr(checkpoint, "last_model_path", None) or None,
        },
        "tuning": getattr(task, "tuning", None),
        "history": history,
        "overrides": _overrides(),
        "run_dir": str(Path(cfg.paths.output_dir).resolve()),
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    if trainer.is_global_zero:
        write_summary(cfg.paths.output_dir, summary)
        print_run_table(summary)
    finish_loggers(trainer.loggers, summary)  # ends the W&B run: failed on an exception, finished otherwise
    return summary
