"""Image datasets held as one normalised float tensor: digits, MNIST, Fashion-MNIST, CIFAR-10.

The files are read once through torchvision's dataset classes (which also download them) into
one uint8 tensor, converted to float and normalised with the usual per-channel statistics.
After that no per-image `__getitem__` runs: batches are slices of the tensor, augmented on the
batch (see `augment.py`). The official test set is the test split; validation comes from train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import torch
import torchvision.datasets
from sklearn import datasets as sklearn_datasets
from torch import Tensor

from dlbench.data.module import InMemoryDataModule, Pair
from dlbench.errors import ConfigError


class DatasetUnavailable(ConfigError):
    """The dataset's files are not on disk and could not be downloaded."""


class ImageDataModule(InMemoryDataModule):
    """Images `(N, C, H, W)` normalised by fixed per-channel (mean, std)."""

    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    def normalize(self, train_inputs: Tensor) -> tuple[Tensor, Tensor] | None:
        if not self.standardize:
            return None
        shape = (1, len(self.mean), 1, 1)
        return torch.tensor(self.mean).reshape(shape), torch.tensor(self.std).reshape(shape)

    def augment_fill(self) -> Tensor | None:
        if not self.standardize:
            return None
        return -torch.tensor(self.mean) / torch.tensor(self.std)


class Digits(ImageDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 16 grey levels; offline)."""

    name = "digits"
    mean, std = (0.3053,), (0.3760,)  # of all 1,797 images scaled to [0, 1]

    def __init__(self, size: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = int(size)

    def load(self) -> dict[str, Pair]:
        bunch = sklearn_datasets.load_digits()
        images = torch.as_tensor(bunch.images, dtype=torch.float32).div_(16).unsqueeze(1)
        if self.size != 8:  # bilinear upsampling, so convolutional models made for MNIST can read them
            images = torch.nn.functional.interpolate(
                images, size=(self.size, self.size), mode="bilinear", align_corners=False
            )
        return {"train": (images, torch.as_tensor(bunch.target, dtype=torch.long))}


class TorchvisionImages(ImageDataModule):
    """A dataset read through a torchvision class, from `data_dir`, downloading when allowed."""

    source: Any = torchvision.datasets.MNIST

    def __init__(self, data_dir: str = "data", download: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir, self.download = str(data_dir), bool(download)

    def expected_files(self) -> tuple[Path, list[str]]:
        """Where the class looks, and the file names it needs there."""
        return Path(self.data_dir) / self.source.__name__ / "raw", [Path(url).stem for url, _ in self.source.resources]

    def open(self, train: bool) -> Any:
        """The torchvision dataset object; one clear error when its files cannot be had."""
        try:
            return self.source(self.data_dir, train=train, download=self.download)
        except (RuntimeError, URLError, OSError) as error:
            folder, files = self.expected_files()
            tried = (
                "could not be downloaded (no network?)" if self.download else "are missing and dataset.download=false"
            )
            raise DatasetUnavailable(
                f"dataset {self.name}: its files {tried}; looked in {folder.resolve()} for {', '.join(files)}. "
                + (
                    "Fix: connect to the network and run again, or place those files in that directory "
                    if self.download
                    else "Fix: connect to the network and run again with dataset.download=true, or place those files "
                    "in that directory "
                )
                + f"(dataset.data_dir={self.data_dir} is the root above it). [{type(error).__name__}: "
                f"{str(error).splitlines()[0]}]"
            ) from None

    def images(self, dataset: Any) -> Pair:
        """One uint8 tensor `(N, C, H, W)` scaled to float [0, 1], and the labels."""
        data = torch.as_tensor(np.asarray(dataset.data))
        data = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)  # HWC -> CHW
        # made contiguous while still uint8, so the float copy is the only large one
        return data.contiguous().float().div_(255), torch.as_tensor(dataset.targets, dtype=torch.long)

    def load(self) -> dict[str, Pair]:
        return {"train": self.images(self.open(train=True)), "test": self.images(self.open(train=False))}


class MNIST(TorchvisionImages):
    """LeCun's handwritten digits: 60,000 + 10,000 28x28 grey images (`data_dir`/MNIST/raw)."""

    name = "mnist"
    source = torchvision.datasets.MNIST
    mean, std = (0.1307,), (0.3081,)


class FashionMNIST(TorchvisionImages):
    """Zalando's clothing images, MNIST's format and sizes (`data_dir`/FashionMNIST/raw)."""

    name = "fashion_mnist"
    source = torchvision.datasets.FashionMNIST
    mean, std = (0.2860,), (0.3530,)


class CIFAR10(TorchvisionImages):
    """32x32 colour images of 10 classes, 50,000 + 10,000 (`data_dir`/cifar-10-batches-py)."""

    name = "cifar10"
    source = torchvision.datasets.CIFAR10
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

    def expected_files(self) -> tuple[Path, list[str]]:
        source = self.source
        names = [name for name, _ in source.train_list + source.test_list] + [source.meta["filename"]]
        return Path(self.data_dir) / source.base_folder, names
