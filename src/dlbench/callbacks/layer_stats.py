"""Per-layer statistics during training: the numbers the notes' "babysitting" section watches.

For every activation module: the mean and standard deviation of its outputs, the fraction of
dead ReLU units (never positive on any example measured this epoch) and the fraction of
saturated sigmoid/tanh outputs (where the local gradient is nearly zero). For every layer with
parameters: the gradient norm (vanishing or exploding gradients) and the weight norm.

The numbers are added to the task's per-epoch row (`Task.epoch_extras`), so `metrics.csv` keeps
one row per epoch and W&B groups them by quantity: `act_mean/<layer>`, `dead/<layer>`, ...
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

RELUS = (nn.ReLU, nn.ReLU6)
SATURATING = (nn.Sigmoid, nn.Tanh)
ACTIVATIONS = (*RELUS, *SATURATING, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.Softplus, nn.SiLU)


def find_activations(model: nn.Module) -> dict[str, nn.Module]:
    """Activation modules by name (functional activations inside `forward` are not visible)."""
    found = {name: module for name, module in model.named_modules() if isinstance(module, ACTIVATIONS)}
    found.update({name: module for name, module in model.named_modules() if type(module).__name__ == "Maxout"})
    return found


def find_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules that own parameters directly (Linear, Conv, LSTM, BatchNorm, ...)."""
    return {
        name: module for name, module in model.named_modules() if any(True for _ in module.parameters(recurse=False))
    }


def norm_of(tensors: list[Tensor]) -> Tensor:
    """The 2-norm of a layer's tensors taken together (its gradients, or its weights), as the norm
    of their norms: one formula for a run and a population's member (`dlbench.population.layer_stats`)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach()) for t in tensors]))


def saturated_mask(module: nn.Module, outputs: Tensor, threshold: float) -> Tensor:
    """Outputs in the flat tails: sigmoid below 1 - threshold or above threshold, |tanh| above it."""
    if isinstance(module, nn.Sigmoid):
        return (outputs > threshold) | (outputs < 1 - threshold)
    return outputs.abs() > threshold


class Accumulator:
    """Running sums of one activation module's outputs over the measured batches of an epoch."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: Tensor | float = 0.0
        self.squares: Tensor | float = 0.0
        self.count = 0
        self.saturated: Tensor | float = 0.0
        self.ever_active: Tensor | None = None

    def add(self, module: nn.Module, outputs: Tensor, threshold: float) -> None:
        outputs = outputs.detach().float()
        self.total = self.total + outputs.sum()
        self.squares = self.squares + outputs.square().sum()
        self.count += outputs.numel()
        if isinstance(module, RELUS):
            active = (outputs > 0).any(dim=0) if outputs.dim() > 1 else outputs > 0
            self.ever_active = (
                active
                if self.ever_active is None or self.ever_active.shape != active.shape
                else self.ever_active | active
            )
        if isinstance(module, SATURATING):
            self.saturated = self.saturated + saturated_mask(module, outputs, threshold).sum()

    def results(self, module: nn.Module) -> dict[str, float]:
        if not self.count:
            return {}
        mean = float(self.total) / self.count
        variance = max(float(self.squares) / self.count - mean * mean, 0.0)
        row = {"act_mean": mean, "act_std": variance**0.5}
        if self.ever_active is not None:
            row["dead"] = 1.0 - float(self.ever_active.float().mean())
        if isinstance(module, SATURATING):
            row["saturated"] = float(self.saturated) / self.count
        return row


class LayerStatistics(pl.Callback):
    """Measures activations, gradients and weights layer by layer; off unless `enabled`.

    Args:
        enabled: the one switch (`callbacks.layer_stats.enabled=true`); when false no hook is
            attached and training runs exactly as without this callback.
        every_n_batches: measure one training batch in this many (1: every batch).
        saturation: a sigmoid output above this (or below 1 - this), or a tanh output above it in
            absolute value, counts as saturated.
    """

    def __init__(self, enabled: bool = False, every_n_batches: int = 1, saturation: float = 0.99) -> None:
        self.enabled = enabled
        self.every_n_batches = every_n_batches
        self.saturation = saturation
        self._measuring = False
        self._handles: list[Any] = []
        self._activations: dict[str, nn.Module] = {}
        self._layers: dict[str, nn.Module] = {}
        self._accumulators: dict[str, Accumulator] = {}
        self._grad_sums: dict[str, Tensor | float] = {}
        self._grad_steps = 0

    @staticmethod
    def _network(pl_module: pl.LightningModule) -> nn.Module:
        return getattr(pl_module, "model", pl_module)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled:
            return
        network = self._network(pl_module)
        self._activations = find_activations(network)
        self._layers = find_layers(network)
        self._accumulators = {name: Accumulator() for name in self._activations}
        for name, module in self._activations.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))
        self._reset()

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: Any, outputs: Any) -> None:
            if self._measuring and isinstance(outputs, Tensor):
                self._accumulators[name].add(module, outputs, self.saturation)

        return record

    def _reset(self) -> None:
        for accumulator in self._accumulators.values():
            accumulator.reset()
        self._grad_sums = {name: 0.0 for name in self._layers}
        self._grad_steps = 0

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._measuring = self.enabled and batch_idx % self.every_n_batches == 0

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._measuring:
            return
        for name, layer in self._layers.items():
            grads = [p.grad.detach() for p in layer.parameters(recurse=False) if p.grad is not None]
            if grads:
                norm = norm_of(grads)
                self._grad_sums[name] = self._grad_sums[name] + norm
        self._grad_steps += 1

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._measuring = False

    def epoch_statistics(self) -> dict[str, float]:
        """This epoch's numbers, keyed `<quantity>/<layer>`."""
        row: dict[str, float] = {}
        for name, module in self._activations.items():
            for quantity, value in self._accumulators[name].results(module).items():
                row[f"{quantity}/{name}"] = value
        for name, layer in self._layers.items():
            if self._grad_steps:
                row[f"grad_norm/{name}"] = float(self._grad_sums[name]) / self._grad_steps
            weight = getattr(layer, "weight", None)
            tensors = [weight] if isinstance(weight, Tensor) else list(layer.parameters(recurse=False))
            row[f"weight_norm/{name}"] = float(norm_of(tensors))
        return row

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled:
            return
        row = self.epoch_statistics()
        self._reset()
        extras = getattr(pl_module, "epoch_extras", None)
        if isinstance(extras, dict):
            extras.update(row)  # the Task writes them with its own row, at step = epoch
        else:
            for logger in pl_module.loggers:
                logger.log_metrics(row, step=trainer.current_epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
