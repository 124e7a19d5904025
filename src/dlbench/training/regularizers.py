"""Regularizers that live in the loss or the training step.

Each regularizer option (`configs/regularizer/*.yaml`) sets one knob: a model setting (dropout,
batch norm), a callback (early stopping, max-norm, weight noise), a dataset setting (augment), a
task setting (input noise, adversarial examples, label smoothing) or a loss term in `penalty`
(l1, l2, activity_l1). This module builds the loss terms and the adversarial examples; whether a
regularizer can apply to the chosen model and data is decided by the resolve step
(`dlbench.config.schema` and `dlbench.config.pairs`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from dlbench.errors import ConfigError
from dlbench.models.activations import Maxout
from dlbench.training.initializers import is_weight

Penalty = Callable[[nn.Module], Tensor]
# Modules whose outputs are a network's hidden representation (after the nonlinearity).
ACTIVATION_MODULES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.SiLU,
    Maxout,
)


def weights(model: nn.Module) -> list[Tensor]:
    """The weights a weight penalty acts on: matrices and kernels, never biases or norm scales."""
    return [parameter for name, parameter in model.named_parameters() if is_weight(name, parameter)]


def l1_penalty(lam: float) -> Penalty:
    """lambda x sum |w|: pushes weights to exactly zero (a sparse network)."""
    return lambda model: lam * sum(w.abs().sum() for w in weights(model))


def l2_penalty(lam: float) -> Penalty:
    """lambda x sum w^2: weight decay written as a loss term, so it shows in `train/penalty`."""
    return lambda model: lam * sum(w.pow(2).sum() for w in weights(model))


class ActivityL1:
    """lambda x mean over examples of sum |h| of every hidden activation: sparse hidden codes.

    Forward hooks on the model's activation modules record the last forward pass, which is the
    one whose loss the task is about to add this term to.
    """

    def __init__(self, model: nn.Module, lam: float, name: str = "model") -> None:
        modules = [module for module in model.modules() if isinstance(module, ACTIVATION_MODULES)]
        if not modules:
            raise ConfigError(
                f"regularizer=activity_l1 needs hidden layers with an activation, but {name} has none; use a "
                "model with hidden units, e.g. model=mlp."
            )
        self.lam = lam
        self.activity: dict[int, Tensor] = {}
        for index, module in enumerate(modules):
            module.register_forward_hook(self._recorder(index))

    def _recorder(self, index: int) -> Callable[..., None]:
        def record(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
            self.activity[index] = output.abs().sum() / output.shape[0]

        return record

    def __call__(self, model: nn.Module) -> Tensor:
        return self.lam * sum(self.activity.values())


def make_penalties(
    penalties: Mapping[str, float] | None, model: nn.Module, model_name: str = "model"
) -> list[tuple[str, Penalty]]:
    """The loss terms named in `penalty` (e.g. `{l1: 1e-4}`; names and weights checked by the schema), in order."""
    terms: list[tuple[str, Penalty]] = []
    for name, lam in (penalties or {}).items():
        if name == "l1":
            terms.append((name, l1_penalty(float(lam))))
        elif name == "l2":
            terms.append((name, l2_penalty(float(lam))))
        else:
            terms.append((name, ActivityL1(model, float(lam), model_name)))
    return terms


def fgsm(model: nn.Module, loss_fn: nn.Module, inputs: Tensor, targets: Tensor, epsilon: float) -> Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015): `x + epsilon sign(grad_x loss)`.

    Only the input gradient is taken, so the parameters' gradients are left as they were.
    """
    with torch.enable_grad():
        probe = inputs.detach().requires_grad_(True)
        loss = loss_fn(model(probe), targets)
        (gradient,) = torch.autograd.grad(loss, probe)
    return (inputs + epsilon * gradient.sign()).detach()
