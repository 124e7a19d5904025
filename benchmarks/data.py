"""The benchmark's datasets on dlbench's own in-memory data path (`InMemoryDataModule`).

Iris comes from the project's `dataset=iris`; these two fill in cases the benchmark needs
whatever datasets the project ships: MNIST-shaped images and the 1986 mirror-symmetry patterns.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from dlbench.data.module import InMemoryDataModule, Pair


class MnistShaped(InMemoryDataModule):
    """1x28x28 digits: the MNIST subset in `../shared/data` when present, else random images
    of the same shape and size (timing depends on the shapes, not on the pixels)."""

    name = "mnist_shaped"

    def __init__(self, root: str | None = None, train_size: int = 4000, test_size: int = 1000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root = root
        self.train_size_wanted, self.test_size = train_size, test_size

    def source(self) -> str:
        return "mnist" if self.root and (Path(self.root) / "MNIST" / "raw").is_dir() else "generated"

    def load(self) -> dict[str, Pair]:
        if self.source() == "mnist":
            from torchvision.datasets import MNIST

            parts = {}
            for split, train, size in (("train", True, self.train_size_wanted), ("test", False, self.test_size)):
                data = MNIST(str(self.root), train=train, download=False)
                parts[split] = (data.data[:size].unsqueeze(1).float() / 255.0, data.targets[:size].long())
            return parts
        generator = torch.Generator().manual_seed(self.seed)
        total = self.train_size_wanted + self.test_size
        images = torch.rand(total, 1, 28, 28, generator=generator)
        labels = torch.arange(total) % 10
        cut = self.train_size_wanted
        return {"train": (images[:cut], labels[:cut]), "test": (images[cut:], labels[cut:])}

    def normalize(self, train_inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        mean, std = train_inputs.mean(), train_inputs.std()
        return mean.reshape(1, 1, 1, 1), std.reshape(1, 1, 1, 1)


class MirrorSymmetry(InMemoryDataModule):
    """All 64 six-bit patterns, target 1 when the pattern is a palindrome (8 of 64); trained and
    evaluated on all of them, as Rumelhart, Hinton & Williams (1986) did."""

    name = "mirror_symmetry"
    kind = "binary"

    def __init__(self, bits: int = 6, **kwargs) -> None:
        kwargs.setdefault("standardize", False)
        super().__init__(**kwargs)
        self.bits = bits

    def load(self) -> dict[str, Pair]:
        patterns = torch.tensor(list(itertools.product([0.0, 1.0], repeat=self.bits)))
        symmetric = (patterns == patterns.flip(1)).all(dim=1).float().unsqueeze(1)
        return {"train": (patterns, symmetric)}

    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        everything = self.load()["train"]
        self.splits = {name: everything for name in ("train", "val", "test")}
        self.spec = self.make_spec(*everything)
