"""DDP under Hydra: every process of a job runs exactly that job, in that job's directory.

Lightning's `ddp` strategy starts ranks 1..N-1 by running the script again with `sys.argv`
(plus `hydra.run.dir=<HydraConfig run.dir>`). Inside a multirun that replays the whole sweep:
with the basic sweeper each child starts its own sweep in a second multirun tree, with Optuna
each child samples its own trial. `job_command_line` makes the children's command line the
job's own: the job's resolved overrides, `hydra.mode=RUN`, and the job's output directory as the
run directory, so they compose the very config the job runs. `SameConfigOnAllRanks` then
checks it: each rank hashes its resolved config and training stops unless all hashes agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from dlbench.errors import ConfigError, require

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
def job_command_line() -> Iterator[None]:
    """While the job runs, `sys.argv` and Hydra's run dir describe this job alone (see module doc).

    Afterwards the job's process group is destroyed and the environment Lightning set for its
    children (MASTER_PORT, LOCAL_RANK, WORLD_SIZE...) is restored, so that the next job of a
    sweep starts its own children instead of talking to the exited ones of this job.
    """
    if not HydraConfig.initialized():
        yield
        return
    environment = dict(os.environ)
    hydra_cfg = HydraConfig.get()
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


def config_hash(cfg: DictConfig) -> str:
    """A short fingerprint of the resolved run config (the `hydra` node excluded)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(container, dict):
        container.pop("hydra", None)
    text = json.dumps(container, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SameConfigOnAllRanks(pl.Callback):
    """Stops a distributed run at setup unless every rank resolved the same config.

    `hashes` (one per rank, rank order) goes into the summary, so a run shows that it was checked.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.hash = config_hash(cfg)
        self.hashes: list[str] = [self.hash]

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
            return
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, self.hash)
        self.hashes = [str(item) for item in gathered]
        if len(set(self.hashes)) > 1:
            raise ConfigError(
                f"the {len(self.hashes)} DDP processes of this run resolved different configs (hashes {self.hashes}); "
                "start them with the same overrides, or use trainer.strategy=ddp_spawn."
            )


def rank_config_hashes(trainer: pl.Trainer) -> list[str] | None:
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(callback, SameConfigOnAllRanks):
            return callback.hashes
    return None


def check_shared_run_dir(cfg: DictConfig) -> None:
    """Under torchrun or srun every rank runs train.py itself: they must be told one run directory."""
    from dlbench.config.devices import externally_launched

    if not externally_launched() or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if str(hydra_cfg.mode) != "RunMode.RUN":
        return  # a launcher (submitit) gave every task of the job the job's own directory
    named = any(item.startswith("hydra.run.dir=") for item in hydra_cfg.overrides.hydra)
    require(
        named,
        f"this process is rank {os.environ.get('RANK', os.environ.get('SLURM_PROCID', '?'))} of a job started "
        "by torchrun or srun, "
        "and each rank would make its own outputs/<date>/<time>; add hydra.run.dir=<one path all machines "
        "see> to the command.",
    )


def _starts_children(trainer: DictConfig) -> bool:
    """True when Lightning will start ranks 1..N-1 itself by running the script again (strategy `ddp`)."""
    from dlbench.config.devices import ALL, externally_launched

    strategy = str(trainer.get("strategy", "auto"))
    if not strategy.startswith("ddp") or any(word in strategy for word in ("spawn", "fork", "notebook")):
        return False
    devices = trainer.get("devices", 1)
    many = devices in ALL or (str(devices).count(",") > 0) or (str(devices).isdigit() and int(str(devices)) > 1)
    return many and not externally_launched()


def check_launcher(cfg: DictConfig) -> None:
    """Refuse `strategy=ddp` children under a Hydra launcher whose jobs are not `python train.py`.

    Lightning starts the other ranks by running `sys.argv` again; in a joblib or submitit worker
    that is the worker's own program, not train.py, so the children would not run this job.
    """
    if not HydraConfig.initialized() or not _starts_children(cfg.trainer):
        return
    launcher = HydraConfig.get().runtime.choices.get("hydra/launcher") or "basic"
    require(
        launcher in ("basic", "population"),  # both run each job in this process, as train.py
        f"trainer.strategy={cfg.trainer.strategy} with trainer.devices={cfg.trainer.devices} starts its other "
        "processes by running "
        f"train.py again, which a job of hydra/launcher={launcher} cannot do; leave hydra/launcher out (the "
        "basic launcher runs "
        "DDP jobs one after another), or on SLURM set hydra.launcher.tasks_per_node to trainer.devices so "
        "SLURM starts every process.",
    )
