"""A run's `summary.json`, made once from what was decided (the plan) and what happened (the outcome):
the finished `dlbench.records.summary.Summary`, for a run alone and a population's member alike."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbench.config.plan import RunPlan
from dlbench.records.summary import (
    Best,
    Checkpoints,
    DataFacts,
    Summary,
    best_epoch,
    git_commit,
    package_versions,
    split_metrics,
)


@dataclass
class Outcome:
    """What happened when the plan ran."""

    status: str = "completed"  # completed | diverged | interrupted | failed
    stop_reason: str | None = None
    diverged: dict[str, Any] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    parameters: int | None = None
    flops_per_example: int | None = None
    devices: dict[str, Any] = field(default_factory=dict)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    last_checkpoint: dict[str, Any] | None = None  # the epoch and step the last.ckpt on disk holds
    criterion: dict[str, Any] = field(default_factory=lambda: {"criterion": None, "epochs_to_criterion": None})


def stop_reason(callbacks: Iterable[Any], current_epoch: int, max_epochs: int | None) -> str:
    """Why training ended on its own: an early-stopping callback's message, else max_epochs, else
    'training ended' (for a run alone and for a population's member alike)."""
    for callback in callbacks:
        message = getattr(callback, "stopping_reason_message", None)
        if message:
            return f"early stopping at epoch {getattr(callback, 'stopped_epoch', '?')}: {message}"
    if max_epochs is not None and current_epoch >= max_epochs:
        return f"reached max_epochs={max_epochs}"
    return "training ended"


def make_summary(plan: RunPlan, outcome: Outcome) -> Summary:
    """Everything `summary.json` holds, in its order (see docs/run-directory.md)."""
    history = outcome.history
    by_split = split_metrics(history[-1] if history else {}, ("train", "val"))
    best_row = best_epoch(history, plan.monitor, plan.monitor_mode)
    epoch_times = [row["time/epoch_s"] for row in history if "time/epoch_s" in row]
    mean_epoch = sum(epoch_times) / len(epoch_times) if epoch_times else None
    facts = plan.facts
    spec = facts.spec if facts is not None else None
    best = Best(epoch=int(best_row["epoch"]), metric=plan.monitor, value=best_row[plan.monitor]) if best_row else None
    return Summary.finished(
        status=outcome.status,
        stop_reason=outcome.stop_reason,
        diverged=outcome.diverged,
        metrics={**by_split, "test": outcome.test_metrics},
        best=best,
        best_epoch=best.epoch if best else None,
        epochs_run=len(history),
        criterion=outcome.criterion.get("criterion"),
        epochs_to_criterion=outcome.criterion.get("epochs_to_criterion"),  # null when never met
        wall_time_s=time.perf_counter() - outcome.started,
        time_per_epoch_s=mean_epoch,
        samples_per_s=facts.train_size / mean_epoch if facts is not None and mean_epoch else None,
        parameters=outcome.parameters,
        flops_per_example=outcome.flops_per_example,
        data=DataFacts(
            name=spec.name,
            input_shape=list(spec.input_shape),
            num_outputs=spec.num_outputs,
            kind=spec.kind,
            train_size=facts.train_size,
        )
        if spec is not None and facts is not None
        else None,
        devices=outcome.devices,
        effective_batch_size=plan.effective_batch_size,
        lr=plan.lr,
        seed=plan.seed,
        checkpoints=outcome.checkpoints,
        last_checkpoint=outcome.last_checkpoint,
        tuning=dict(plan.tuning.report) if plan.tuning is not None else None,
        history=history,
        overrides=list(plan.context.overrides),
        run_dir=str(Path(plan.output_dir).resolve()),
        versions=package_versions(),
        git_commit=git_commit(Path(__file__).parent),
        config=dict(plan.config),
    )
