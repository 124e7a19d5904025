"""Small helpers for the `debug=` options that Lightning's Trainer flags do not cover."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import CombinedLoader


def _loaders(iterables: Any) -> list[Any]:
    if isinstance(iterables, CombinedLoader):
        return list(iterables.flattened)
    if isinstance(iterables, dict):
        return list(iterables.values())
    if isinstance(iterables, (list, tuple)):
        return list(iterables)
    return [iterables]


class FixedOrder(pl.Callback):
    """Turns off shuffling of loaders that shuffle themselves (our `TensorBatches`).

    Lightning's `overfit_batches` swaps a DataLoader's random sampler for a sequential one, but an
    iterable that shuffles on its own would hand a different "first batch" every epoch; with
    this callback `debug=overfit` really trains on one fixed batch.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for loader in _loaders(trainer.train_dataloader):
            if hasattr(loader, "shuffle") and not hasattr(loader, "sampler"):
                loader.shuffle = False
