"""The shared set of activation functions, chosen by name in every model config."""

from __future__ import annotations

import torch
from torch import nn


class Maxout(nn.Module):
    """Maxout (Goodfellow et al. 2013): the maximum over `pieces` linear pieces.

    It follows a linear layer whose width is `pieces` times the unit count, so models build the
    preceding layer `pieces` times wider (see `width_factor`).
    """

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (x.shape[1] // self.pieces, self.pieces)).amax(dim=2)


ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "softplus", "gelu", "maxout")


def make_activation(name: str, negative_slope: float = 0.01, maxout_pieces: int = 2) -> nn.Module:
    """A fresh activation module: `name` from ACTIVATIONS."""
    factories = {
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
        "prelu": nn.PReLU,
        "elu": nn.ELU,
        "softplus": nn.Softplus,
        "gelu": nn.GELU,
        "maxout": lambda: Maxout(maxout_pieces),
    }
    return factories[name]()  # the schema checked the name (dlbench.config.schema.ACTIVATIONS)


def width_factor(activation: str, maxout_pieces: int) -> int:
    """How many pre-activation units each hidden unit needs (maxout takes a max over pieces)."""
    return maxout_pieces if activation == "maxout" else 1
