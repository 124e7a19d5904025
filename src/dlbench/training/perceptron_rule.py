"""Rosenblatt's perceptron rule, w <- w + lr * (y - y_hat) * x with y_hat = step(w . x + b).

The rule is exactly a plain gradient step on the perceptron criterion
`sum((y_hat - y) * (w . x + b))` with y_hat held constant: its gradient is `(y_hat - y) * x`. So
`optimizer=perceptron_rule` is plain SGD (no momentum, no weight decay) that the task pairs with
that criterion instead of BCE; the task asks the optimizer for it through `make_criterion`. With
`dataset.batch_size=1` it is the online rule of 1958; a larger batch sums the updates.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.errors import require


class PerceptronCriterion(nn.Module):
    """The number the rule descends, plus the number of mistakes: zero only when every example is right.

    The criterion alone, `sum((y_hat - y) * (w . x + b))`, is also zero when a misclassified
    example lies exactly on the boundary (w . x + b = 0), so a checkpoint monitored on it could
    keep a wrong model. The count of mistakes is added as a constant (detached): the gradient,
    and so the rule's update, is unchanged, while the value (per example: at least the share of
    mistakes) is 0 only when every example is right."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        predictions = (logits > 0).to(logits.dtype)  # the step activation
        wrong = (predictions - targets).detach()
        return (wrong * logits).sum() + wrong.abs().sum()


class PerceptronRule(torch.optim.SGD):
    """SGD at learning rate `lr`, to be paired with `PerceptronCriterion` (see the module)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1.0) -> None:
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=0.0)

    @staticmethod
    def make_criterion(model: nn.Module, spec: DataSpec) -> nn.Module:
        """The criterion, after checking that the rule applies: one linear unit, labels 0/1."""
        linear = [module for module in model.modules() if isinstance(module, nn.Linear)]
        name = type(model).__name__.lower()
        require(
            len(linear) == 1 and not any(isinstance(m, (nn.Conv2d, nn.RNNBase)) for m in model.modules()),
            f"optimizer=perceptron_rule trains a single linear layer, but model {name} has {len(linear)} "
            "linear layers; use model=perceptron.",
        )
        require(
            spec.kind == "binary",
            f"optimizer=perceptron_rule needs two classes (one output, labels 0/1), but dataset {spec.name} "
            f"is {spec.kind} with {spec.num_outputs} outputs; use a binary dataset such as dataset=logic_and "
            "or dataset=xor.",
        )
        return PerceptronCriterion()
