"""DDP under Hydra: every process of a job runs exactly that job, in that job's directory.

Lightning's `ddp` strategy starts ranks 1..N-1 by running the script again with `sys.argv`
(plus `hydra.run.dir=<HydraConfig run.dir>`). Inside a multirun that replays the whole sweep:
with the basic sweeper each child starts its own sweep in a second multirun tree, with Optuna
each child samples its own trial. `job_command_line` makes the children's command line the
job's own: the job's resolved overrides, `hydra.mode=RUN`, and the job's output directory as the
run directory, so they compose the very config the job runs. `SameConfigOnAllRanks`
(dlbench.callbacks.ddp) then checks it: each rank hashes its resolved config and training stops
unless all hashes agree.

What it changes of Lightning's behaviour is the command line its `_SubprocessScriptLauncher`
reads (`sys.argv`) and the run directory it passes to the children (Hydra's `run.dir`); the
contract test in tests/test_runtime.py checks that the launcher still builds its command from them.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch.distributed as dist
from omegaconf import open_dict, read_write

# Task's metrics are torchmetrics, reduced across ranks at compute(); `sync_dist` would reduce twice.
warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\(.*sync_dist=True")

# Hydra's own flags that change which config is composed; the children need them too.
_CONFIG_FLAGS = ("--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd")


def _config_flags(argv: list[str]) -> list[str]:
    kept: list[str] = []
    for index, arg in enumerate(argv):
        name = arg.split("=", 1)[0]
        if name in _CONFIG_FLAGS:
            kept.append(arg)
            if "=" not in arg and index + 1 < len(argv):
                kept.append(argv[index + 1])
    return kept


@contextmanager
def job_command_line(hydra_cfg: Any | None) -> Iterator[None]:
    """While the job runs, `sys.argv` and Hydra's run dir describe this job alone (see module doc).

    Afterwards the job's process group is destroyed and the environment Lightning set for its
    children (MASTER_PORT, LOCAL_RANK, WORLD_SIZE...) is restored, so that the next job of a
    sweep starts its own children instead of talking to the exited ones of this job.
    """
    if hydra_cfg is None:  # not under Hydra: nothing to describe
        yield
        return
    environment = dict(os.environ)
    argv = sys.argv
    sys.argv = [argv[0], *_config_flags(argv[1:]), *hydra_cfg.overrides.task, "hydra.mode=RUN"]
    old_dir = hydra_cfg.run.dir
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir  # Lightning passes this to the children
    try:
        yield
    finally:
        sys.argv = argv
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(environment)
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            hydra_cfg.run.dir = old_dir
