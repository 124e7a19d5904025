"""Weight initialisation schemes, applied to a model after it is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from dlbench.errors import ConfigError, require

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
    bias: float | str | None = 0.0,
    lsuv_batch: int = 256,
    tol: float = 0.05,
    max_iter: int = 10,
    datamodule: Any = None,
) -> nn.Module:
    """Re-initialise every weight matrix of `model` with `scheme`; biases to `bias`.

    `default` keeps PyTorch's own initialisation (biases included). Recurrent weight matrices
    (`weight_ih`, `weight_hh`) get the scheme too. `lsuv` is data-dependent: it reads
    `lsuv_batch` training examples from `datamodule`.
    """
    if scheme == "default":
        return model
    schemes = _schemes(gain, a, std, value)
    if scheme not in schemes and scheme != "lsuv":
        raise ConfigError(f"initializer.scheme={scheme!r} is unknown; choose one of {', '.join(SCHEMES)}.")
    for name, parameter in model.named_parameters():
        if is_weight(name, parameter):
            schemes["orthogonal" if scheme == "lsuv" else scheme](parameter)
        elif "bias" in name and bias == "scheme":  # the 1986 thresholds: drawn like the weights
            schemes[scheme](parameter)
        elif "bias" in name and bias is not None:
            nn.init.constant_(parameter, bias)
    if scheme == "lsuv":
        require(
            datamodule is not None, "initializer=lsuv needs a batch of training data, but no data module was given."
        )
        lsuv(model, training_inputs(datamodule, lsuv_batch), tol, max_iter)
    return model


def training_inputs(datamodule: Any, count: int) -> Tensor:
    """The first `count` training inputs: from the in-memory split, else the first training batch."""
    datamodule.setup()
    splits = getattr(datamodule, "splits", None)
    if splits and "train" in splits:
        return splits["train"][0][:count]
    inputs, _ = next(iter(datamodule.train_dataloader()))
    return inputs[:count]


LSUV_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@torch.no_grad()
def lsuv(model: nn.Module, inputs: Tensor, tol: float = 0.05, max_iter: int = 10) -> nn.Module:
    """Layer-sequential unit variance (Mishkin & Matas 2016), on weights already orthogonal.

    Front to back, each linear or convolutional layer's weights are divided by the standard
    deviation of that layer's output on `inputs` until the variance is within `tol` of 1, so
    every layer starts with unit output variance on the data it will see. Recurrent layers keep
    their orthogonal weights.
    """
    layers = [module for module in model.modules() if isinstance(module, LSUV_LAYERS)]
    outputs: dict[str, Tensor] = {}

    def record(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
        outputs["last"] = output

    was_training = model.training
    model.eval()  # dropout off, batch norm by running stats: measure the layer, not the noise
    try:
        for layer in layers:
            handle = layer.register_forward_hook(record)
            try:
                for _ in range(max_iter):
                    model(inputs)
                    variance = float(outputs["last"].var())
                    if abs(variance - 1.0) < tol or variance == 0.0:
                        break
                    layer.weight.div_(variance**0.5)
            finally:
                handle.remove()
    finally:
        model.train(was_training)
    return model
