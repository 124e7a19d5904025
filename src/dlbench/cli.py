"""What `train.py` runs for each Hydra job: the run, with user mistakes reported in one line."""

from __future__ import annotations

import sys

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from dlbench.errors import find_config_error
from dlbench.reporting.failures import record_failure


def in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def run_job(cfg: DictConfig) -> float | None:
    """Run one job. A ConfigError ends a single run with exit status 2 and one line on stderr;
    inside a sweep it is reported and the sweep goes on with the next job."""
    try:
        from dlbench.population.seeds import check_seeds_of_run

        check_seeds_of_run(cfg.get("seeds", 1), in_multirun())  # before torch is imported
        from dlbench.run import train
        from dlbench.runtime.ddp import job_command_line

        with job_command_line():  # DDP children run this job, not the command line's sweep
            return train(cfg)
    except Exception as exception:
        error = find_config_error(exception)
        if error is None:
            if not in_multirun():
                raise
            # One broken job must not end the sweep: it is reported as failed and the next one runs.
            print(f"error: job failed: {type(exception).__name__}: {exception}", file=sys.stderr)
            record_failure(cfg, exception)
            return None
        print(f"error: {error}", file=sys.stderr)
        if in_multirun():
            record_failure(cfg, error)
            return None
        sys.exit(2)
