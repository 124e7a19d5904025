"""The base of every dataset: tensors in memory, split, normalised, served in batches."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor

from dlbench.data.batches import TensorBatches
from dlbench.data.spec import DataSpec, Kind
from dlbench.data.splits import split
from dlbench.errors import require

Pair = tuple[Tensor, Tensor]


class InMemoryDataModule(pl.LightningDataModule):
    """A LightningDataModule whose splits are tensors, batched by `TensorBatches`.

    Subclasses implement `load()`, returning `{"train": (x, y)}` plus `"test"` where the dataset has
    an official test split; everything else (the validation split, a test split where there is
    none, standardisation with training statistics, batching, DDP sharding) happens here.
    """

    name: str = "dataset"
    kind: Kind = "multiclass"
    sequence: bool = False
    per_step: bool = False

    def __init__(
        self,
        batch_size: int | str = 32,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        standardize: bool = True,
        stratify: bool = True,
        on_device: bool = False,
    ) -> None:
        super().__init__()
        if batch_size != "full":
            require(
                isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1,
                f"dataset.batch_size={batch_size!r} is invalid; use a whole number >= 1, or 'full' for full-batch gradient descent.",
            )
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed = seed
        self.standardize = standardize
        self.stratify = stratify and self.kind in ("multiclass", "binary")
        self.on_device = on_device
        self.splits: dict[str, Pair] = {}
        self.spec: DataSpec | None = None

    # -- what a subclass provides -------------------------------------------------------------
    def load(self) -> dict[str, Pair]:
        """Return the examples: `{"train": (x, y)}`, with `"test"` where there is an official one."""
        raise NotImplementedError

    def normalize(self, train_inputs: Tensor) -> tuple[Tensor, Tensor] | None:
        """(mean, std) to normalise every split with, from the training inputs only."""
        if not self.standardize:
            return None
        mean = train_inputs.mean(dim=0, keepdim=True)
        std = train_inputs.std(dim=0, keepdim=True).clamp_min(1e-8)
        return mean, std

    # -- Lightning's contract -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        parts = self.load()
        train = parts["train"]
        if "test" not in parts:
            train, parts["test"] = split(*train, self.test_fraction, self.seed, self.stratify, "test_fraction", self.name)
        train, val = split(*train, self.val_fraction, self.seed + 1, self.stratify, "val_fraction", self.name)
        stats = self.normalize(train[0])
        for name, (inputs, targets) in (("train", train), ("val", val), ("test", parts["test"])):
            if stats is not None:
                inputs = (inputs - stats[0]) / stats[1]
            self.splits[name] = (inputs.contiguous(), targets.contiguous())
        self.spec = self.make_spec(*train)

    def make_spec(self, inputs: Tensor, targets: Tensor) -> DataSpec:
        if self.kind == "multiclass":
            outputs = int(max(int(t.max()) for _, t in self.splits.values())) + 1
        elif self.kind == "binary":
            outputs = 1
        else:
            outputs = int(targets[0].numel()) if not self.per_step else int(targets.shape[-1]) if targets.dim() > 2 else 1
        return DataSpec(self.name, tuple(inputs.shape[1:]), outputs, self.kind, self.sequence, self.per_step)

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val", shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", shuffle=False)

    def _batches(self, split_name: str, shuffle: bool) -> TensorBatches:
        self.setup()
        inputs, targets = self.splits[split_name]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if self.on_device and trainer is not None:
            device = trainer.strategy.root_device
            inputs, targets = inputs.to(device), targets.to(device)
        size = -(-len(inputs) // world) if self.batch_size == "full" else self.batch_size
        return TensorBatches(inputs, targets, int(size), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world)

    @property
    def train_size(self) -> int:
        self.setup()
        return len(self.splits["train"][0])

    def effective_batch_size(self, world_size: int = 1) -> int:
        """Examples per optimizer step, summed over all processes."""
        return self.train_size if self.batch_size == "full" else int(self.batch_size) * world_size
