"""A run's name in W&B and MLflow: what tells it apart from its neighbours, nothing more.

A job of a sweep is named by the keys the sweep varies (`optimizer.lr=0.1,seed=43`), read from
the sweep's own plan (`<sweep dir>/multirun.yaml`, `config.sweep_plan`); the overrides every
job shares (`logger=[csv,wandb]`, `trainer.max_epochs=3`) are in the run's config, not its name.
A single run is named by its overrides, which are the whole difference from the defaults.
"""

from __future__ import annotations

from typing import Any

MAX_LENGTH = 128


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def run_name(context: Any, limit: int = MAX_LENGTH) -> str | None:
    """The name for the run of `context` (a `RunContext`; None outside a run): see the module."""
    if context is None:
        return None
    overrides = list(context.overrides)
    if getattr(context, "multirun", False) and context.sweep_dir is not None:
        from dlbench.config.sweep_plan import read_plan

        plan = read_plan(context.sweep_dir)
        if plan is not None and plan.swept:
            swept = set(plan.swept)
            overrides = [item for item in overrides if _key(item) in swept] or overrides
    return ",".join(overrides)[:limit] or None
