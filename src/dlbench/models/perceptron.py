"""The perceptron: one linear layer from the (flattened) input to the outputs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.models.checks import require_whole_examples


class Perceptron(nn.Module):
    """input -> Linear -> logits; logistic (softmax) regression when trained by gradients.

    The output is a logit: the task's loss applies the sigmoid (one output, BCE) or the softmax
    (several, cross-entropy). With `optimizer=perceptron_rule` the same layer is trained by
    Rosenblatt's rule with a step activation instead (`dlbench.training.perceptron_rule`).
    """

    def __init__(self, input_shape: Sequence[int], num_outputs: int) -> None:
        super().__init__()
        features = 1
        for dim in input_shape:
            features *= dim
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(features, num_outputs)

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_whole_examples(spec, name)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.flatten(x))
