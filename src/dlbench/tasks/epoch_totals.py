"""The numbers of one epoch's row, summed as the epoch goes and reduced across DDP ranks at its end.

A row is a few weighted means (loss, data loss, penalty) and an accuracy. torchmetrics'
`MeanMetric` and `Accuracy` in a `MetricCollection` compute them correctly, but each is its own
module with its own update, compute, reset and synchronisation: on a tiny model that was about a
fifth of an epoch's time (mirror symmetry, 2,000 one-step epochs). Here the whole row is one
torchmetrics state, a vector of sums, so a step is one small tensor addition and an epoch end one
all-reduce; torchmetrics still does the state handling and the DDP reduction.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class EpochTotals(Metric):
    """Weighted means of `means` (weighted by examples) and, if `accuracy`, the fraction of
    correct predictions (weighted by predictions: a sequence model predicts once per step)."""

    full_state_update = False

    def __init__(self, means: list[str], accuracy: bool) -> None:
        super().__init__()
        self.means, self.accuracy = list(means), accuracy
        # [sum of value x examples for each mean..., correct, examples, predictions]
        self.add_state("totals", default=torch.zeros(len(self.means) + 3), dist_reduce_fx="sum")
        # (examples, predictions, device) -> that pair as a tensor on the device: made once, since
        # a tensor made from Python numbers on a GPU is a copy the host waits for, every step
        self._counts: dict[tuple[int, int, torch.device], Tensor] = {}

    def update(self, values: Tensor, examples: int, correct: Tensor | None = None, predictions: int = 0) -> None:
        """`values`: this batch's mean of each name in `means`, in that order. One addition: on a
        tiny model every small tensor operation of a step is a visible share of it."""
        sums = values.detach().float().reshape(-1) * examples
        hits = correct.detach().float().reshape(1) if correct is not None else sums.new_zeros(1)
        key = (examples, predictions, sums.device)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = sums.new_tensor((examples, predictions))
        self.totals += torch.cat([sums, hits, counts])

    def restore(self, totals: Tensor) -> None:
        """Continue from `totals` (an epoch in progress, from a checkpoint), as if its updates had run here."""
        self.totals = totals.detach().to(self.totals.device, self.totals.dtype).clone()
        self._update_count = 1 if bool(totals.any()) else 0  # torchmetrics warns on compute() before any update
        self._computed = None

    def compute(self) -> dict[str, Tensor]:
        totals = self.totals
        correct, examples, predictions = totals[-3], totals[-2].clamp(min=1), totals[-1].clamp(min=1)
        row = {name: totals[i] / examples for i, name in enumerate(self.means)}
        if self.accuracy:
            row["acc"] = correct / predictions
        return row


def count_correct(outputs: Tensor, targets: Tensor, kind: str) -> tuple[Tensor, int]:
    """Correct predictions in a batch and how many predictions there were: the arg-max class for
    multiclass outputs (last dimension), a positive logit for binary ones."""
    if kind == "multiclass":
        predicted = outputs.reshape(-1, outputs.shape[-1]).argmax(-1)
        targets = targets.reshape(-1)
    else:
        predicted = (outputs > 0).reshape(targets.shape).to(targets.dtype)
    return (predicted == targets).sum(), targets.numel()
