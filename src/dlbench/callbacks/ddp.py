"""A distributed run stops at setup unless every process resolved the same config."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist

from dlbench.errors import ConfigError


def config_hash(config: Mapping[str, Any]) -> str:
    """A short fingerprint of the resolved run config (the `hydra` node excluded)."""
    container = {key: value for key, value in config.items() if key != "hydra"}
    text = json.dumps(container, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class SameConfigOnAllRanks(pl.Callback):
    """Stops a distributed run at setup unless every rank resolved the same config.

    `hashes` (one per rank, rank order) goes into the summary, so a run shows that it was checked.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.hash = config_hash(config)
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
    for callback in trainer.callbacks:
        if isinstance(callback, SameConfigOnAllRanks):
            return callback.hashes
    return None
