"""LeNet for the dlbench side of the LeNet case: the very layers of the hand-written loop's LeNet
(benchmarks/hand.py), wrapped in dlbench's model contract (input_shape, num_outputs)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from benchmarks.hand import build_model


class LeNet(nn.Sequential):
    """conv 5x5x20 - pool - conv 5x5x50 - pool - fc 500 - fc outputs, ReLU (431,080 parameters)."""

    def __init__(self, input_shape: Sequence[int], num_outputs: int) -> None:
        super().__init__(*build_model({"model": "lenet", "outputs": num_outputs}))
