"""What `train.py` runs for each Hydra job: the run, with user mistakes reported in one line."""

from __future__ import annotations

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from dlbench.errors import find_config_error


def in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def run_job(cfg: DictConfig) -> float | None:
    """Run one job. A ConfigError ends a single run with exit status 2 and one line on stderr;
    inside a sweep it is reported and the sweep goes on with the next job."""
    try:
        from dlbench.run import train

        return train(cfg)
    except Exception as exception:
        error = find_config_error(exception)
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        if in_multirun():
            return None
        sys.exit(2)
