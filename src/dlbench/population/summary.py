"""A member's `summary.json`: the keys a standalone run's summary has, from the member's outcome.

One function, `member_summary`, so that it follows the standalone summary in one place (on main
that summary is `_finish` in `dlbench.run.execute`; it is becoming one function of (plan, outcome),
and this one is meant to become a call of it). The only addition is inside `devices`:
`population` says the run trained as member `member` of a population of `size` in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from dlbench.models.measure import count_parameters, forward_flops
from dlbench.population.checkpoints import checkpoint_callback
from dlbench.reporting.summary import best_epoch, git_commit, package_versions
from dlbench.runtime.ddp import config_hash


@dataclass
class Outcome:
    """What the population's fit says about a member besides what the member itself holds."""

    wall_time_s: float
    accelerator: str
    precision: str
    population_size: int
    max_epochs: int | None
    current_epoch: int


def member_stop_reason(member: Any, outcome: Outcome) -> str:
    """`_stop_reason` of a standalone run, for this member: its early stopping's message, else
    max_epochs, else 'training ended'."""
    if member.stop_reason:
        return member.stop_reason
    for callback in member.callbacks:
        message = getattr(callback, "stopping_reason_message", None)
        if message:
            return f"early stopping at epoch {getattr(callback, 'stopped_epoch', '?')}: {message}"
    if outcome.max_epochs is not None and outcome.current_epoch >= outcome.max_epochs:
        return f"reached max_epochs={outcome.max_epochs}"
    return "training ended"


def member_summary(member: Any, outcome: Outcome) -> dict[str, Any]:
    """The summary a standalone run of this member's config writes, for what the member did."""
    cfg, task, datamodule = member.cfg, member.task, member.datamodule
    history = task.history
    last = history[-1] if history else {}
    by_split = {
        split: {key.split("/", 1)[1]: value for key, value in last.items() if key.startswith(split + "/")}
        for split in ("train", "val")
    }
    best_row = best_epoch(history, cfg.monitor, cfg.monitor_mode)
    epoch_times = [row["time/epoch_s"] for row in history if "time/epoch_s" in row]
    checkpoint = checkpoint_callback(member)
    return {
        "status": member.status,
        "stop_reason": member_stop_reason(member, outcome),
        "diverged": member.diverged,
        "metrics": {**by_split, "test": member.test_metrics},
        "best": {"epoch": int(best_row["epoch"]), "metric": cfg.monitor, "value": best_row[cfg.monitor]}
        if best_row
        else None,
        "best_epoch": int(best_row["epoch"]) if best_row else None,
        "epochs_run": len(history),
        "wall_time_s": outcome.wall_time_s,
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
            "accelerator": outcome.accelerator,
            "world_size": 1,
            "precision": outcome.precision,
            "config_hash_per_rank": [config_hash(cfg)],
            "population": {"size": outcome.population_size, "member": member.index},
        },
        "effective_batch_size": datamodule.effective_batch_size(1),
        "lr": getattr(task, "lr", cfg.optimizer.get("lr")),
        "seed": cfg.seed,
        "checkpoints": {
            "best": getattr(checkpoint, "best_model_path", None) or None,
            "last": getattr(checkpoint, "last_model_path", None) or None,
        },
        "tuning": None,
        "history": history,
        "overrides": list(member.overrides),
        "run_dir": str(member.run_dir.resolve()),
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
