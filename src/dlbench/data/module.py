"""The base of every dataset: tensors in memory, split, normalised, served in batches."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from dlbench.data.augment import Augment
from dlbench.data.batches import TensorBatches, reference_loader
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
        in_memory: bool = True,
        holdout: bool = True,
        augment: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed = seed
        self.standardize = standardize
        self.stratify = stratify and self.kind in ("multiclass", "binary")
        self.on_device = on_device
        self.in_memory = in_memory
        self.holdout = holdout
        self.augment = Augment(**(augment or {}))
        self._generator: torch.Generator | None = None
        self._restored_generator_state: torch.Tensor | None = None
        self.splits: dict[str, Pair] = {}
        self.spec: DataSpec | None = None

    # -- what a subclass provides -------------------------------------------------------------
    def load(self) -> dict[str, Pair]:
        """Return the examples: `{"train": (x, y)}`, with `"test"` where there is an official one."""
        raise NotImplementedError

    def normalize(self, train_inputs: Tensor) -> tuple[Tensor, Tensor] | None:
        """(mean, std) to normalise every split with: here per feature, from the training split only.

        Image datasets return the usual fixed per-channel statistics instead.
        """
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
        if not self.holdout:  # too few examples to hold any out: evaluate on the training set
            test = parts.get("test", train)
            train, val = train, train
        else:
            if "test" not in parts:
                train, parts["test"] = split(
                    *train, self.test_fraction, self.seed, self.stratify, "test_fraction", self.name
                )
            train, val = split(*train, self.val_fraction, self.seed + 1, self.stratify, "val_fraction", self.name)
            test = parts["test"]
        stats = self.normalize(train[0])
        normalized: dict[int, Tensor] = {}  # a split shared by several names is normalised once
        for name, (inputs, targets) in (("train", train), ("val", val), ("test", test)):
            if stats is not None:
                key = id(inputs)
                if key not in normalized:  # in place: `load()` and `split` hand over fresh tensors
                    normalized[key] = inputs.sub_(stats[0]).div_(stats[1]).contiguous()
                inputs = normalized[key]
            self.splits[name] = (inputs.contiguous(), targets.contiguous())
        self._check_augment(train[0])
        self.spec = self.make_spec(*self.splits["train"])

    def _check_augment(self, inputs: Tensor) -> None:
        require(
            not self.augment.active or (inputs.dim() == 4 and not self.sequence),
            f"dataset.augment is set for dataset {self.name}, which has no images; augmentation applies to "
            "digits, mnist, fashion_mnist and cifar10 (set dataset.augment to its defaults or pick an image "
            "dataset).",
        )

    def augment_fill(self) -> Tensor | None:
        """Per-channel value of a black pixel after normalisation (what padding shows)."""
        return None

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augment training batches on the device they train on; val and test stay untouched."""
        trainer = self.trainer
        if not self.augment.active or trainer is None or not trainer.training or not isinstance(batch, (list, tuple)):
            return batch  # (a bare tensor is Lightning's example input for the model summary)
        inputs, targets = batch
        if self._generator is None or self._generator.device != inputs.device:
            self._generator = self.augment_generator(inputs.device, trainer.global_rank, self._restored_generator_state)
            self._restored_generator_state = None  # a resumed run draws on from where it stopped
        return self.augment(inputs, self._generator, self.augment_fill()), targets

    def augment_generator(self, device: torch.device, rank: int = 0, state: Tensor | None = None) -> torch.Generator:
        """The generator of a run's augmentation draws on `device` (one per process, from the seed;
        `state`: where a resumed run's draws go on). A population's member makes its own with it."""
        generator = torch.Generator(device=device).manual_seed(self.seed + 7919 * (rank + 1))
        if state is not None:
            generator.set_state(state)
        return generator

    # -- resuming: the augmentation draws go on where the checkpoint left them ------------------
    def state_dict(self) -> dict[str, Any]:
        return {"augment_generator": self._generator.get_state()} if self._generator is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.trainer is not None and self.trainer.state.fn != "fit":
            return  # the best checkpoint restored for testing: nothing is augmented there
        self._restored_generator_state = state_dict.get("augment_generator")
        self._generator = None

    def make_spec(self, inputs: Tensor, targets: Tensor) -> DataSpec:
        """Input shape of one example and the number of model outputs the targets need.

        multiclass: one output per class (labels are 0..K-1, long); binary: one logit, targets
        float (N, 1); regression: one output per target value, per step when `per_step`
        (targets (N, T, F) give F outputs at each step).
        """
        if self.kind == "multiclass":
            outputs = int(max(int(t.max()) for _, t in self.splits.values())) + 1
        elif self.kind == "binary":
            outputs = 1
        elif self.per_step:
            outputs = int(targets.shape[-1]) if targets.dim() == 3 else 1
        else:
            outputs = int(targets[0].numel())
        return DataSpec(self.name, tuple(inputs.shape[1:]), outputs, self.kind, self.sequence, self.per_step)

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", shuffle=True)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val", shuffle=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", shuffle=False)

    def _batches(self, split_name: str, shuffle: bool) -> TensorBatches | Any:
        self.setup()
        inputs, targets = self.splits[split_name]
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if self.on_device and trainer is not None:
            device = trainer.strategy.root_device
            inputs, targets = inputs.to(device), targets.to(device)
        size = -(-len(inputs) // world) if self.batch_size == "full" else self.batch_size
        make = TensorBatches if self.in_memory else reference_loader
        batches = make(inputs, targets, int(size), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world)
        if trainer is not None:  # a resumed run continues the sequence of epoch orders
            # epochs whose training is done (Lightning's own sampler epoch): a checkpoint taken in an
            # epoch's end hooks is resumed with the next epoch, although `current_epoch` still says this one
            epoch = trainer.fit_loop.epoch_progress.current.processed
            (batches if self.in_memory else batches.sampler).set_epoch(epoch)
        return batches

    @property
    def train_size(self) -> int:
        self.setup()
        return len(self.splits["train"][0])

    def effective_batch_size(self, world_size: int = 1) -> int:
        """Examples per optimizer step, summed over all processes."""
        return self.train_size if self.batch_size == "full" else int(self.batch_size) * world_size
