"""Weight initialisation schemes, applied to a model after it is built."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from dlbench.errors import ConfigError

WeightInit = Callable[[Tensor], None]


def _schemes(gain: float, a: float, std: float, value: float) -> dict[str, WeightInit]:
    return {
        "zeros": nn.init.zeros_,
        "constant": lambda w: nn.init.constant_(w, value),
        "uniform": lambda w: nn.init.uniform_(w, -a, a),
        "normal": lambda w: nn.init.normal_(w, 0.0, std),
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, gain),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, gain),
        "he_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "orthogonal": lambda w: nn.init.orthogonal_(w, gain),
    }


SCHEMES = ("default", *_schemes(1, 1, 1, 0), "lsuv")


def is_weight(name: str, parameter: Tensor) -> bool:
    """Weights of linear, convolutional and recurrent layers: not biases, not norm scales."""
    return parameter.dim() >= 2 and "bias" not in name


@torch.no_grad()
def initialize(
    model: nn.Module,
    scheme: str = "default",
    gain: float = 1.0,
    a: float = 0.3,
    std: float = 0.01,
    value: float = 0.0,
    bias: float | None = 0.0,
) -> nn.Module:
    """Re-initialise every weight matrix of `model` with `scheme`; biases to `bias`.

    `default` keeps PyTorch's own initialisation (biases included). Recurrent weight matrices
    (`weight_ih`, `weight_hh`) get the scheme too.
    """
    if scheme == "default":
        return model
    schemes = _schemes(gain, a, std, value)
    if scheme not in schemes:
        raise ConfigError(f"initializer.scheme={scheme!r} is unknown; choose one of {', '.join(SCHEMES)}.")
    for name, parameter in model.named_parameters():
        if is_weight(name, parameter):
            schemes[scheme](parameter)
        elif "bias" in name and bias is not None:
            nn.init.constant_(parameter, bias)
    return model
