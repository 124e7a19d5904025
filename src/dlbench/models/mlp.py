"""The multilayer perceptron."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.models.activations import make_activation, width_factor
from dlbench.models.checks import require_whole_examples


class MLP(nn.Module):
    """input -> [Linear -> (BatchNorm) -> activation -> (Dropout)] x len(hidden) -> Linear.

    Any input shape is flattened first, so the same model reads tables and images. Batch norm sits
    before the activation, as in Ioffe & Szegedy (2015).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden: Sequence[int] = (64,),
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        negative_slope: float = 0.01,
        maxout_pieces: int = 2,
    ) -> None:
        super().__init__()
        factor = width_factor(activation, maxout_pieces)
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = 1
        for dim in input_shape:
            width_in *= dim
        for width in hidden:
            layers.append(nn.Linear(width_in, width * factor))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width * factor))
            layers.append(make_activation(activation, negative_slope, maxout_pieces))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, num_outputs))
        self.layers = nn.Sequential(*layers)

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_whole_examples(spec, name)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
