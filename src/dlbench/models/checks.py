"""What each family of models can read, said in one sentence when a dataset does not fit."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, require


def require_images(spec: DataSpec, name: str, fix: str = "use model=mlp") -> None:
    """Convolutional models need C x H x W inputs; a table or a sequence gets a pointer elsewhere."""
    require(
        spec.is_image, f"{name} needs image inputs (C x H x W); dataset {spec.name} gives {spec.describe()}; {fix}."
    )


def require_whole_examples(spec: DataSpec, name: str) -> None:
    """Feed-forward classifiers give one prediction per example, not one per time step."""
    require(
        not spec.per_step,
        f"{name} gives one prediction per example, but dataset {spec.name} wants one at every step of its "
        f"{spec.describe()}; use model=lstm, model=gru or model=rnn.",
    )


def flat_size(features: nn.Module, input_shape: Sequence[int], name: str, fix: str) -> int:
    """Values per example after `features`, found by running it once on a zero example.

    Computing it (rather than hard-coding 800 or 9216) lets one layer recipe read 28x28 and 32x32
    images alike. Under `torch.device("meta")` this costs nothing, which is how the 62-million
    parameter AlexNet is counted in the tests.
    """
    try:
        with torch.no_grad():
            return int(features(torch.zeros(1, *input_shape)).numel())
    except RuntimeError:  # a kernel larger than what is left of the image
        size = "x".join(map(str, input_shape))
        raise ConfigError(f"{name} cannot read {size} images: its layers shrink them to nothing; {fix}.") from None
