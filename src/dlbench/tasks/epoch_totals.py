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
    correct predictions (weighted by predictions: a sequence model predicts once per step).

    `members`: the totals of a population's members side by side, one row of sums per member
    (`dlbench.population`); a run alone has none (a population of one without the member axis)."""

    full_state_update = False

    def __init__(self, means: list[str], accuracy: bool, members: int | None = None) -> None:
        super().__init__()
        self.means, self.accuracy, self.members = list(means), accuracy, members
        # [sum of value x examples for each mean..., correct, examples, predictions], per member if any
        shape = (len(self.means) + 3,) if members is None else (members, len(self.means) + 3)
        self.add_state("totals", default=torch.zeros(shape), dist_reduce_fx="sum")
        # (examples, predictions, device) -> that pair as a tensor on the device: made once, since
        # a tensor made from Python numbers on a GPU is a copy the host waits for, every step
        self._counts: dict[tuple[int, int, torch.device], Tensor] = {}

    def update(self, values: Tensor, examples: int, correct: Tensor | None = None, predictions: int = 0) -> None:
        """`values`: this batch's mean of each name in `means`, in that order ((members, means) with
        members); `correct`: its correct predictions (per member). One addition: on a tiny model
        every small tensor operation of a step is a visible share of it."""
        lead = self.totals.shape[:-1]
        sums = values.detach().float().reshape(*lead, -1) * examples
        hits = correct.detach().float().reshape(*lead, 1) if correct is not None else sums.new_zeros(*lead, 1)
        key = (examples, predictions, sums.device)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = sums.new_tensor((examples, predictions)).expand(*lead, 2)
        self.totals += torch.cat([sums, hits, counts], dim=-1)

    def restore(self, totals: Tensor) -> None:
        """Continue from `totals` (an epoch in progress, from a checkpoint), as if its updates had run here."""
        self.totals = totals.detach().to(self.totals.device, self.totals.dtype).clone()
        self._update_count = 1 if bool(totals.any()) else 0  # torchmetrics warns on compute() before any update
        self._computed = None

    @property
    def names(self) -> list[str]:
        """The names `compute` gives a value for, in its order."""
        return [*self.means, *(["acc"] if self.accuracy else [])]

    def compute(self) -> dict[str, Tensor]:
        """Each name's value (a number, or one per member): those of `names`."""
        totals = self.totals
        correct, examples, predictions = totals[..., -3], totals[..., -2].clamp(min=1), totals[..., -1].clamp(min=1)
        row = {name: totals[..., i] / examples for i, name in enumerate(self.means)}
        if self.accuracy:
            row["acc"] = correct / predictions
        return row

    def rows(self, stage: str) -> list[dict[str, float]]:
        """Each member's row (`stage/name` -> value) of the epoch, then start afresh (members only)."""
        # reshape: torchmetrics' compute squeezes a one-element result, so a population of one gets 0-d columns
        columns = (
            {name: column.reshape(-1).tolist() for name, column in self.compute().items()} if self.update_count else {}
        )
        self.reset()
        return [{f"{stage}/{name}": values[m] for name, values in columns.items()} for m in range(self.members or 1)]
