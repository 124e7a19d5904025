"""A member's `summary.json`: the standalone run's summary (`dlbench.run.summary.make_summary`), made
from the member's plan and what happened to it in the population.

The only addition is inside `devices`: `population` says the run trained as member `member` of a
population of `size` in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlbench.callbacks.checkpoint import recorded_checkpoints
from dlbench.callbacks.criterion import StopAtCriterion
from dlbench.callbacks.ddp import config_hash
from dlbench.models.measure import count_parameters, forward_flops
from dlbench.population.checkpoints import checkpoint_callback
from dlbench.records.summary import Summary
from dlbench.run.summary import Outcome, make_summary, stop_reason


@dataclass
class PopulationOutcome:
    """What the population's fit says about every member besides what the member itself holds."""

    started: float  # time.perf_counter() when the population began, as a standalone run's start
    accelerator: str
    precision: str
    population_size: int
    max_epochs: int | None
    current_epoch: int


def member_stop_reason(member: Any, population: PopulationOutcome) -> str:
    """`_stop_reason` of a standalone run, for this member: its early stopping's message, else
    max_epochs, else 'training ended'."""
    if member.stop_reason:
        return member.stop_reason
    return stop_reason(member.callbacks, population.current_epoch, population.max_epochs)


def _criterion(member: Any) -> dict[str, Any]:
    for callback in member.callbacks:
        if isinstance(callback, StopAtCriterion):
            return {"criterion": callback.describe(), "epochs_to_criterion": callback.epochs_to_criterion}
    return {"criterion": None, "epochs_to_criterion": None}


def member_summary(member: Any, population: PopulationOutcome) -> Summary:
    """The summary a standalone run of this member's plan writes, for what the member did."""
    checkpoint = checkpoint_callback(member)
    outcome = Outcome(
        status=member.status,
        stop_reason=member_stop_reason(member, population),
        diverged=member.diverged,
        history=member.task.history,
        test_metrics=member.test_metrics,
        started=population.started,
        parameters=count_parameters(member.task.model),
        flops_per_example=forward_flops(member.task.model, member.task.spec.input_shape),
        devices={
            "accelerator": population.accelerator,
            "world_size": 1,
            "precision": population.precision,
            "config_hash_per_rank": [config_hash(member.plan.config)],
            "population": {"size": population.population_size, "member": member.index},
        },
        checkpoints=recorded_checkpoints(checkpoint),
        criterion=_criterion(member),
    )
    return make_summary(member.plan, outcome)
