"""Mini-batches cut from tensors held in memory.

A `DataLoader(TensorDataset)` calls `__getitem__` once per example and collates the results:
about 0.9 ms per step on an Iris-sized MLP, several times the arithmetic. Here a batch is one
indexing operation on a permuted index, so tiny models train at the speed of their arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> Tensor:
    """The shuffled order of one epoch: fixed by (seed, epoch), the same on every rank."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(num_examples, generator=generator)


class TensorBatches:
    """An iterable of `(inputs, targets)` batches over tensors, reshuffled each epoch.

    Under DDP each rank takes every `world_size`-th example of the epoch's permutation (padded by
    wrapping around so all ranks take the same number of steps, as `DistributedSampler` does).
    """

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.inputs, self.targets = inputs, targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    @property
    def num_examples(self) -> int:
        """Examples this rank sees per epoch."""
        return math.ceil(len(self.inputs) / self.world_size)

    def __len__(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)

    def indices(self, epoch: int) -> Tensor | None:
        """This rank's example order for `epoch`, or None for the stored order on one process."""
        total = len(self.inputs)
        if not self.shuffle and self.world_size == 1:
            return None
        order = epoch_permutation(total, self.seed, epoch) if self.shuffle else torch.arange(total)
        padded = self.num_examples * self.world_size
        if padded > total:
            order = torch.cat([order, order[: padded - total]])
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.indices(self.epoch)
        self.epoch += 1
        size = self.batch_size
        if order is None:  # contiguous slices are views: no copy at all
            for start in range(0, len(self.inputs), size):
                yield self.inputs[start : start + size], self.targets[start : start + size]
            return
        if order.device != self.inputs.device:
            order = order.to(self.inputs.device)
        for start in range(0, len(order), size):
            index = order[start : start + size]
            yield self.inputs[index], self.targets[index]
