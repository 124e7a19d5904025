"""The members' data, held once, served as (members, batch, ...) batches.

A member's dataset `seed` is its run's seed, so members with different seeds have different
splits (and, for tables, different standardisation) and different shuffles. The split tensors of
each distinct data module are concatenated once; a member's split is a row of indices into them.
Each epoch every member takes its own order, `epoch_permutation(n, seed, epoch)`, the one its
standalone `TensorBatches` takes, and a step gathers the members' batches in one indexing
operation: batch `k` of member `m` is exactly the batch `k` its standalone run trains on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from dlbench.data.batches import TensorBatches, epoch_permutation
from dlbench.data.module import InMemoryDataModule

SPLITS = ("train", "val", "test")


class MemberSplits:
    """Every member's train/val/test split as indices into tensors shared by all members."""

    def __init__(self, datamodules: Sequence[InMemoryDataModule]) -> None:
        distinct: list[InMemoryDataModule] = []
        source: list[int] = []
        for datamodule in datamodules:
            for index, seen in enumerate(distinct):
                if seen is datamodule:
                    source.append(index)
                    break
            else:
                source.append(len(distinct))
                distinct.append(datamodule)
        self.seeds = [int(datamodule.seed) for datamodule in datamodules]
        self.inputs: dict[str, Tensor] = {}
        self.targets: dict[str, Tensor] = {}
        self.index: dict[str, Tensor] = {}
        for split in SPLITS:
            parts = [datamodule.splits[split] for datamodule in distinct]
            sizes = {len(inputs) for inputs, _ in parts}
            if len(sizes) != 1:
                raise ValueError(f"the members' {split} splits differ in size ({sorted(sizes)}); they share no steps")
            (size,) = sizes
            self.inputs[split] = parts[0][0] if len(parts) == 1 else torch.cat([inputs for inputs, _ in parts])
            self.targets[split] = parts[0][1] if len(parts) == 1 else torch.cat([targets for _, targets in parts])
            offsets = torch.tensor(source, dtype=torch.long).unsqueeze(1) * size
            self.index[split] = offsets + torch.arange(size).unsqueeze(0)
        self.batch_size = datamodules[0].batch_size

    def size(self, split: str) -> int:
        return int(self.index[split].shape[1])

    def to(self, device: torch.device) -> MemberSplits:
        for table in (self.inputs, self.targets, self.index):
            for split, tensor in table.items():
                table[split] = tensor.to(device)
        return self

    def step_size(self, split: str) -> int:
        return self.size(split) if self.batch_size == "full" else int(self.batch_size)


class MemberBatches(TensorBatches):
    """`TensorBatches` over the shared tensors, each member in its own order: batch `k` is
    (members, batch, ...), member `m`'s part the batch `k` its run alone takes."""

    def __init__(self, splits: MemberSplits, split: str, shuffle: bool, epoch: int = 0) -> None:
        super().__init__(splits.inputs[split], splits.targets[split], splits.step_size(split), shuffle)
        self.rows, self.seeds, self.epoch = splits.index[split], splits.seeds, epoch

    @property
    def num_examples(self) -> int:
        return int(self.rows.shape[1])

    def indices(self, epoch: int) -> Tensor:
        """(members, examples): every member's examples for this epoch, as indices into the shared tensors."""
        if not self.shuffle:
            return self.rows
        orders: dict[int, Tensor] = {}
        for seed in self.seeds:
            if seed not in orders:
                orders[seed] = epoch_permutation(self.num_examples, seed, epoch)
        permutation = torch.stack([orders[seed] for seed in self.seeds]).to(self.rows.device)
        return self.rows.gather(1, permutation)


class PopulationData(pl.LightningDataModule):
    """The population's LightningDataModule: the shared splits on the training device, batched per member."""

    def __init__(self, datamodules: Sequence[InMemoryDataModule], members: Sequence[Any] = ()) -> None:
        """`members` (`dlbench.population.members.Member`): who augments its own training batches."""
        super().__init__()
        self.splits = MemberSplits(datamodules)
        self._device: torch.device | None = None
        self.members = list(members) if any(dm.augment.active for dm in datamodules) else []

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """`dataset.augment`: each member's training batch augmented with its own draws, as its run
        alone's data module augments it (`InMemoryDataModule.on_after_batch_transfer`)."""
        trainer = self.trainer
        if not self.members or trainer is None or not trainer.training or not isinstance(batch, (list, tuple)):
            return batch
        inputs, targets = batch
        return torch.stack([member.augmented(inputs[m]) for m, member in enumerate(self.members)]), targets

    def _batches(self, split: str, shuffle: bool) -> MemberBatches:
        trainer = self.trainer
        if trainer is not None:
            device = trainer.strategy.root_device
            if device != self._device:  # once: the data lives where the population trains
                self.splits.to(device)
                self._device = device
        # epochs whose training is done, as a run alone's data module counts them (a resumed population
        # continues the sequence of orders: see `InMemoryDataModule._batches`)
        epoch = trainer.fit_loop.epoch_progress.current.processed if trainer is not None else 0
        return MemberBatches(self.splits, split, shuffle, epoch)

    def train_dataloader(self) -> MemberBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> MemberBatches:
        return self._batches("val", shuffle=False)

    def test_dataloader(self) -> MemberBatches:
        return self._batches("test", shuffle=False)
