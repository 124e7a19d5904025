"""Data that does not fit in memory, or comes as your own `torch.utils.data.Dataset`: the streaming path.

The bundled datasets live in memory as tensors and are cut into batches by indexing (`module.py`,
`batches.py`): the fast path. A folder of JPEGs, a dataset larger than memory or a Dataset class
of yours goes through `DatasetData` instead: examples are read by DataLoader worker processes,
batches are collated and (on a GPU) copied from pinned memory, while everything else follows the
in-memory rules, so the two paths see the same splits in the same orders:

- splits: the test split is `test_fraction` of the examples (unless a separate test dataset is
  given), the validation split `val_fraction` of the rest, stratified by class, with `seed` and
  `seed + 1`, through the same `splits.split` as the in-memory datasets;
- order: every epoch's shuffle is `batches.epoch_order(seed, epoch)`, the same permutation the
  in-memory path uses, and each DDP rank takes its share of it (`EpochSampler`);
- the spec (input shape, outputs, kind) that models are built from comes from the data.

Normalisation and augmentation are the dataset's own transforms here (torchvision's `Normalize`,
`RandomCrop`, ...), since the examples are not all in one tensor to take statistics from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from dlbench.data.batches import EpochSampler
from dlbench.data.spec import DataSpec, Kind
from dlbench.data.splits import split
from dlbench.errors import ConfigError, require

KINDS = ("auto", "multiclass", "binary", "regression")


def example_labels(dataset: Any) -> Tensor:
    """Every example's target: the dataset's `targets` when it keeps them (ImageFolder, MNIST, ...),
    else read example by example (one pass over the data; labels only are kept)."""
    targets = getattr(dataset, "targets", None)
    if targets is not None and len(targets) == len(dataset):
        return torch.as_tensor(targets)
    return torch.stack([torch.as_tensor(dataset[index][1]) for index in range(len(dataset))])


class DatasetData(pl.LightningDataModule):
    """Any map-style Dataset of `(input, target)` pairs as a dlbench data module, streamed from disk.

    Args:
        dataset: the examples (Hydra builds it from `dataset.dataset._target_` and its arguments).
        test_dataset: an official test set; without one, `test_fraction` of `dataset` is held out.
        kind: "auto" (integer targets: classes; float: regression), or multiclass, binary, regression.
        num_outputs: outputs of the model; None: the dataset's `classes`, else the largest label + 1.
        sequence: inputs are (time, features) sequences, for the recurrent models.
        num_workers: DataLoader worker processes reading examples (0: in the training process).
        pin_memory: "auto" pins batches when training on a CUDA GPU (faster copies), else true/false.
    """

    def __init__(
        self,
        dataset: Dataset,
        test_dataset: Dataset | None = None,
        name: str | None = None,
        kind: str = "auto",
        num_outputs: int | None = None,
        sequence: bool = False,
        batch_size: int | str = 32,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        seed: int = 0,
        stratify: bool = True,
        num_workers: int = 2,
        pin_memory: bool | str = "auto",
        persistent_workers: bool = True,
        augment: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        require(kind in KINDS, f"dataset.kind={kind!r} is not a kind of data; use one of {', '.join(KINDS)}.")
        require(
            batch_size == "full"
            or (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1),
            f"dataset.batch_size={batch_size!r} is invalid; use a whole number >= 1, or 'full'.",
        )
        require(
            isinstance(num_workers, int) and num_workers >= 0,
            f"dataset.num_workers={num_workers!r} must be a whole number >= 0 (0 reads in the training process).",
        )
        require(
            not any(value for value in (augment or {}).values()),
            "dataset.augment applies to the bundled in-memory image datasets; for your own dataset put the "
            "augmentation into its transform (e.g. torchvision's RandomCrop), see docs/bring-your-own.md.",
        )
        self.dataset, self.test_dataset = dataset, test_dataset
        self.name = name or type(dataset).__name__.lower()
        self.kind, self.num_outputs, self.sequence = kind, num_outputs, sequence
        self.batch_size = batch_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.seed, self.stratify = seed, stratify
        self.num_workers, self.pin_memory, self.persistent_workers = num_workers, pin_memory, persistent_workers
        self.indices: dict[str, Tensor] = {}
        self.spec: DataSpec | None = None

    # -- splits and spec ----------------------------------------------------------------------
    def _kind(self, labels: Tensor) -> Kind:
        if self.kind != "auto":
            return self.kind
        return "regression" if labels.is_floating_point() else "multiclass"

    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        total = len(self.dataset)
        require(total > 1, f"dataset {self.name} has {total} examples; it needs at least two to split.")
        needs_labels = self.kind in ("auto", "multiclass", "binary") and (self.stratify or self.num_outputs is None)
        labels = example_labels(self.dataset) if needs_labels or self.kind == "auto" else torch.zeros(total)
        kind = self._kind(labels)
        stratify = self.stratify and kind in ("multiclass", "binary")
        train = (torch.arange(total), labels)
        if self.test_dataset is None:
            train, test = split(*train, self.test_fraction, self.seed, stratify, "test_fraction", self.name)
            self.indices["test"] = test[0]
        train, val = split(*train, self.val_fraction, self.seed + 1, stratify, "val_fraction", self.name)
        self.indices["train"], self.indices["val"] = train[0], val[0]
        self.spec = self._make_spec(kind, labels)

    def _make_spec(self, kind: Kind, labels: Tensor) -> DataSpec:
        inputs, target = self.dataset[0]
        inputs, target = torch.as_tensor(inputs), torch.as_tensor(target)
        if self.num_outputs is not None:
            outputs = int(self.num_outputs)
        elif kind == "multiclass":
            classes = getattr(self.dataset, "classes", None)
            outputs = len(classes) if classes is not None else int(labels.max()) + 1
        elif kind == "binary":
            outputs = 1
        else:
            outputs = int(target.numel())
        return DataSpec(self.name, tuple(inputs.shape), outputs, kind, self.sequence, False)

    # -- loaders ------------------------------------------------------------------------------
    def _pin(self) -> bool:
        if self.pin_memory != "auto":
            return bool(self.pin_memory)
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type == "cuda"

    def _loader(self, split_name: str, shuffle: bool) -> DataLoader:
        self.setup()
        if split_name == "test" and self.test_dataset is not None:
            examples: Dataset = self.test_dataset
        else:
            examples = Subset(self.dataset, self.indices[split_name].tolist())
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        size = -(-len(examples) // world) if self.batch_size == "full" else int(self.batch_size)
        sampler = EpochSampler(len(examples), shuffle, self.seed, rank, world)
        if trainer is not None:
            sampler.set_epoch(trainer.current_epoch)
        return DataLoader(
            examples,
            batch_size=size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self._pin(),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    @property
    def train_size(self) -> int:
        self.setup()
        return len(self.indices["train"])

    def effective_batch_size(self, world_size: int = 1) -> int:
        """Examples per optimizer step, summed over all processes."""
        return self.train_size if self.batch_size == "full" else int(self.batch_size) * world_size


def image_transform(image_size: int | Sequence[int], channels: int, mean: Sequence[float], std: Sequence[float]) -> Any:
    """Resize, to a tensor in [0, 1], normalise: what every image of a folder needs to be batched."""
    from torchvision import transforms

    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    steps: list[Any] = [transforms.Grayscale(1)] if channels == 1 else []  # ImageFolder reads images as RGB
    mean = list(mean) * (channels if len(mean) == 1 else 1)
    std = list(std) * (channels if len(std) == 1 else 1)
    steps += [transforms.Resize(size), transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


class ImageFolderData(DatasetData):
    """A folder of images with one subfolder per class (`root/cat/001.jpg`), read by torchvision's ImageFolder.

    Every image is resized to `image_size`, made grey (`channels=1`) or RGB (3), scaled to [0, 1]
    and normalised with `mean` and `std` (per channel, or one value for all).
    """

    def __init__(
        self,
        root: str,
        image_size: int | Sequence[int] = 32,
        channels: int = 3,
        mean: Sequence[float] = (0.5,),
        std: Sequence[float] = (0.5,),
        test_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        from torchvision.datasets import ImageFolder

        require(channels in (1, 3), f"dataset.channels={channels} must be 1 (grey) or 3 (RGB).")
        transform = image_transform(image_size, channels, mean, std)
        datasets = []
        for key, folder in (("root", root), ("test_root", test_root)):
            if folder is None:
                datasets.append(None)
                continue
            path = Path(folder).expanduser()
            require(
                path.is_dir(),
                f"dataset.{key}={folder} is not a folder; give the folder that holds one subfolder of images per "
                "class (root/<class>/<image>.jpg).",
            )
            try:
                datasets.append(ImageFolder(str(path), transform=transform))
            except (FileNotFoundError, RuntimeError) as error:  # no class folders, or no images in them
                raise ConfigError(
                    f"dataset.{key}={folder} holds no images in class subfolders ({str(error).splitlines()[0]}); "
                    "lay them out as root/<class>/<image>.jpg."
                ) from None
        kwargs.setdefault("name", Path(root).name or "images")
        super().__init__(datasets[0], test_dataset=datasets[1], **kwargs)
