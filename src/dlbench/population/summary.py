"""A member's `Outcome`: what happened to it in the population, for `dlbench.run.execute.record`,
which writes a member's records with the very function that writes a run alone's.

The only addition is inside `devices`: `population` says the run trained as member `member` of a
population of `size` in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlbench.callbacks.ddp import config_hash
from dlbench.models.measure import count_parameters, forward_flops
from dlbench.run.summary import Outcome, stop_reason


@dataclass
class PopulationOutcome:
    """What the population's fit says about every member besides what the member itself holds."""

    started: float  # time.perf_counter() when the population began, as a standalone run's start
    accelerator: str
    precision: str
    population_size: int


def member_outcome(member: Any, population: PopulationOutcome) -> Outcome:
    """The `Outcome` a standalone run of this member's plan would have, for what the member did."""
    return Outcome(
        status=member.status,
        stop_reason=member.stop_reason or stop_reason(member.callbacks, member.final_epoch or 0, member.max_epochs),
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
    )
