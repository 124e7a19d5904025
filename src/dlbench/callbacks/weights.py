"""Regularizers that act on the weights around each optimizer step, as Lightning callbacks."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from dlbench.training.initializers import is_weight


class MaxNorm(pl.Callback):
    """After every step, rescale each unit's incoming weight vector to norm <= `max_norm`.

    The constraint of Srivastava et al. (2014), used with dropout: a row of a Linear weight (one
    output unit) or one filter of a convolution is projected back onto the ball of radius `max_norm`.
    """

    def __init__(self, max_norm: float = 3.0) -> None:
        self.max_norm = max_norm

    @torch.no_grad()
    def apply(self, module: torch.nn.Module) -> None:
        for name, parameter in module.named_parameters():
            if is_weight(name, parameter):
                parameter.copy_(parameter.renorm(2, 0, self.max_norm))

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.apply(pl_module)


class WeightNoise(pl.Callback):
    """Gaussian noise on the weights for each training step's forward and backward pass.

    The noise is added before the batch and taken away again before the optimizer step, so the
    gradient is measured at perturbed weights but the step moves the clean ones (Graves 2011's
    'weight noise', a cheap stand-in for averaging over nearby networks).
    """

    def __init__(self, std: float = 0.01) -> None:
        self.std = std
        self._noise: list[tuple[Tensor, Tensor]] = []

    @torch.no_grad()
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._noise = []
        for name, parameter in pl_module.named_parameters():
            if is_weight(name, parameter):
                noise = torch.randn_like(parameter) * self.std
                parameter.add_(noise)
                self._noise.append((parameter, noise))

    @torch.no_grad()
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        self._remove()

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._remove()  # a skipped step (e.g. a non-finite loss) still restores the weights

    def _remove(self) -> None:
        for parameter, noise in self._noise:
            parameter.sub_(noise)
        self._noise = []
