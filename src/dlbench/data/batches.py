"""Mini-batches cut from tensors held in memory, and the DataLoader path they replace.

A `DataLoader(TensorDataset)` calls `__getitem__` once per example and collates the results:
about 0.9 ms per step on an Iris-sized MLP, several times the arithmetic. `TensorBatches` cuts a
batch with one indexing operation on a permuted index, so tiny models train at the speed of their
arithmetic. `reference_loader` builds the DataLoader that visits the same examples in the same
order (`dataset.in_memory=false`), so the two can be compared batch for batch and timed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> Tensor:
    """The shuffled order of one epoch: fixed by (seed, epoch), the same on every rank."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(num_examples, generator=generator)


def epoch_order(total: int, shuffle: bool, seed: int, epoch: int, rank: int, world_size: int) -> Tensor:
    """This rank's example order for one epoch.

    Under DDP each rank takes every `world_size`-th example of the epoch's permutation, padded by
    wrapping around so all ranks take the same number of steps, as `DistributedSampler` does.
    """
    order = epoch_permutation(total, seed, epoch) if shuffle else torch.arange(total)
    padded = math.ceil(total / world_size) * world_size
    if padded > total:
        order = torch.cat([order, order[: padded - total]])
    return order[rank::world_size]


class TensorBatches:
    """An iterable of `(inputs, targets)` batches over tensors, reshuffled each epoch.

    The epoch counts up on each pass and starts where the trainer is (`set_epoch`), so a resumed
    run continues the same sequence of orders. `state_dict` says where the pass under way stands
    (its epoch and the batches handed out); Lightning keeps that in a checkpoint taken inside an
    epoch and gives it back through `load_state_dict` on resume, and the next pass then continues
    that epoch's order from the next batch, as the run that was never stopped did. (No `.sampler`
    attribute: Lightning would then treat this as a DataLoader and look for the rest of one.)
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
        self.epoch = 0  # of the next pass
        self._skip = 0  # batches the next pass leaves out (already trained on before a resume)
        self._pass_epoch, self._handed_out = 0, 0  # the pass under way

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self._pass_epoch, "batches": self._handed_out}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self._skip = int(state["epoch"]), int(state["batches"])

    @property
    def num_examples(self) -> int:
        """Examples this rank sees per epoch."""
        return math.ceil(len(self.inputs) / self.world_size)

    def __len__(self) -> int:
        return math.ceil(self.num_examples / self.batch_size)

    def indices(self, epoch: int) -> Tensor | None:
        """This rank's example order for `epoch`, or None for the stored order on one process
        (a population's members: (members, examples), see `dlbench.population.data`)."""
        if not self.shuffle and self.world_size == 1:
            return None
        return epoch_order(len(self.inputs), self.shuffle, self.seed, epoch, self.rank, self.world_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        # A pass begins at its first batch, not at iter(): Lightning calls iter() once only to check
        # that this is iterable, and debug=overfit turns shuffling off when the epoch starts, which
        # is after Lightning has made the first epoch's iterator.
        epoch, skip = self.epoch, self._skip
        self.epoch, self._skip = epoch + 1, 0
        self._pass_epoch, self._handed_out = epoch, skip
        order = self.indices(epoch)
        size = self.batch_size
        if order is None:  # contiguous slices are views: no copy at all
            for start in range(skip * size, len(self.inputs), size):
                self._handed_out += 1
                yield self.inputs[start : start + size], self.targets[start : start + size]
            return
        if order.device != self.inputs.device:
            order = order.to(self.inputs.device)
        for start in range(skip * size, order.shape[-1], size):  # (members, examples): every member's batch
            index = order[..., start : start + size]
            self._handed_out += 1
            yield self.inputs[index], self.targets[index]


class EpochSampler(DistributedSampler):
    """`epoch_order` as a sampler, for the reference `DataLoader` path.

    A `DistributedSampler` subclass so that Lightning neither wraps it in another one under DDP
    (it already shards by rank) nor forgets to call `set_epoch`. `skip` examples of the next pass
    are left out (a resumed epoch's batches already trained on).
    """

    def __init__(self, total: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.total, self.shuffle, self.seed = total, shuffle, seed
        self.rank, self.num_replicas = rank, world_size
        self.num_samples = math.ceil(total / world_size)
        self.total_size = self.num_samples * world_size
        self.drop_last = False
        self.dataset = None  # DistributedSampler's attribute; examples come from the DataLoader's dataset
        self.epoch = 0
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        order = epoch_order(self.total, self.shuffle, self.seed, self.epoch, self.rank, self.num_replicas)
        self.epoch += 1
        skip, self.skip = self.skip, 0
        return iter(order[skip:].tolist())

    def __len__(self) -> int:
        return self.num_samples


class ResumableLoader(DataLoader):
    """A DataLoader that says, like `TensorBatches`, where its pass stands, and resumes there.

    Its own generator draws the seed each iterator takes, so making an iterator does not move
    the global random state (dropout masks) as a plain DataLoader's does.
    """

    def state_dict(self) -> dict[str, int]:
        return {"epoch": getattr(self, "_pass_epoch", 0), "batches": getattr(self, "_handed_out", 0)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler = self.sampler
        sampler.epoch, sampler.skip = int(state["epoch"]), int(state["batches"]) * int(self.batch_size or 1)

    def __iter__(self) -> Iterator:
        return self._batches()

    def _batches(self) -> Iterator:
        sampler = self.sampler
        self._pass_epoch = sampler.epoch
        self._handed_out = sampler.skip // int(self.batch_size or 1)
        for batch in super().__iter__():
            self._handed_out += 1
            yield batch


def reference_loader(
    inputs: Tensor, targets: Tensor, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """The textbook path: `TensorDataset` + per-example `__getitem__` + default collate."""
    sampler = EpochSampler(len(inputs), shuffle, seed, rank, world_size)
    generator = torch.Generator().manual_seed(seed)
    return ResumableLoader(TensorDataset(inputs, targets), batch_size=batch_size, sampler=sampler, generator=generator)
