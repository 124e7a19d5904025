"""Small synthetic problems whose whole input space can be looked at.

XOR and the mirror-symmetry task are the classic demonstrations that a hidden layer is needed
(Rumelhart, Hinton & Williams 1986); moons, circles, spiral and blobs are the 2-D sets of the
decision-surface pictures. Every generator is fixed by `seed`; inputs are left in their own
coordinates (`standardize=False`) so pictures show the data as generated.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from sklearn import datasets

from dlbench.data.module import InMemoryDataModule, Pair


class ToyDataModule(InMemoryDataModule):
    """A generated dataset: its examples are a function of the seed and the size options."""

    kind = "binary"

    def __init__(self, standardize: bool = False, **kwargs: Any) -> None:
        super().__init__(standardize=standardize, **kwargs)

    def generator(self) -> np.random.RandomState:
        return np.random.RandomState(self.seed)

    @staticmethod
    def pair(inputs: np.ndarray, targets: np.ndarray, binary: bool) -> Pair:
        x = torch.as_tensor(inputs, dtype=torch.float32)
        y = torch.as_tensor(targets)
        return x, (y.float().reshape(-1, 1) if binary else y.long())


class XOR(ToyDataModule):
    """The four points of exclusive-or; `copies` adds noisy copies of each (noise = their std)."""

    name = "xor"

    def __init__(self, copies: int = 0, noise: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.copies, self.noise = int(copies), noise

    def load(self) -> dict[str, Pair]:
        points = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        labels = np.array([0, 1, 1, 0])
        if self.copies:
            jitter = self.generator().normal(0, self.noise, size=(self.copies, 4, 2)).astype(np.float32)
            points = np.concatenate([points, (points[None] + jitter).reshape(-1, 2)])
            labels = np.concatenate([labels, np.tile(labels, self.copies)])
        return {"train": self.pair(points, labels, binary=True)}


class MirrorSymmetry(ToyDataModule):
    """All 2^bits binary patterns; target 1 when the pattern reads the same from both ends.

    With six bits, 8 of the 64 patterns are symmetric (Rumelhart, Hinton & Williams 1986, who
    trained on all 64 and found the two-hidden-unit solution).
    """

    name = "mirror_symmetry"

    def __init__(self, bits: int = 6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bits = int(bits)

    def load(self) -> dict[str, Pair]:
        patterns = np.array(list(itertools.product([0, 1], repeat=self.bits)), dtype=np.float32)
        symmetric = (patterns == patterns[:, ::-1]).all(axis=1)
        return {"train": self.pair(patterns, symmetric.astype(np.int64), binary=True)}


class Encoder(ToyDataModule):
    """The n one-hot patterns of n bits, each to be reproduced at the output (the 1986 encoder).

    Rumelhart, Hinton & Williams (1986) trained an 8-3-8 net to map each of the eight one-hot
    patterns onto itself through three hidden units, and found the hidden units settling on
    near-binary codes. The target of pattern i is pattern i itself, given here as its class i
    (one output per bit; the one-hot target is what cross-entropy and `task.tolerance` compare
    the outputs with). Trained and evaluated on all n patterns, like xor and mirror_symmetry.
    """

    name = "encoder"
    kind = "multiclass"

    def __init__(self, bits: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bits = int(bits)

    def load(self) -> dict[str, Pair]:
        return {"train": self.pair(np.eye(self.bits, dtype=np.float32), np.arange(self.bits), binary=False)}


class _Cloud(ToyDataModule):
    """A 2-D point cloud of `num_samples` points with Gaussian `noise`."""

    def __init__(self, num_samples: int = 500, noise: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_samples, self.noise = int(num_samples), noise


class Moons(_Cloud):
    """Two interleaving half circles (scikit-learn's `make_moons`)."""

    name = "moons"

    def load(self) -> dict[str, Pair]:
        x, y = datasets.make_moons(self.num_samples, noise=self.noise, random_state=self.seed)
        return {"train": self.pair(x, y, binary=True)}


class Circles(_Cloud):
    """A circle inside a circle (scikit-learn's `make_circles`); `factor` = inner/outer radius."""

    name = "circles"

    def __init__(self, factor: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def load(self) -> dict[str, Pair]:
        x, y = datasets.make_circles(self.num_samples, noise=self.noise, factor=self.factor, random_state=self.seed)
        return {"train": self.pair(x, y, binary=True)}


class Spiral(_Cloud):
    """`num_classes` interleaved spiral arms (the CS231n picture); `turns` = revolutions per arm."""

    name = "spiral"
    kind = "multiclass"

    def __init__(self, num_classes: int = 3, turns: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.turns = int(num_classes), turns

    def load(self) -> dict[str, Pair]:
        rng = self.generator()
        labels = np.arange(self.num_samples) % self.num_classes
        radius = rng.uniform(0.05, 1.0, self.num_samples)
        angle = 2 * math.pi * (self.turns * radius + labels / self.num_classes)
        points = np.stack([radius * np.sin(angle), radius * np.cos(angle)], 1)
        points += rng.normal(0, self.noise, points.shape)
        return {"train": self.pair(points, labels, binary=False)}


class Blobs(_Cloud):
    """Isotropic Gaussian clusters (scikit-learn's `make_blobs`); `noise` is each cluster's std."""

    name = "blobs"
    kind = "multiclass"

    def __init__(self, num_classes: int = 3, noise: float = 1.0, **kwargs: Any) -> None:
        super().__init__(noise=noise, **kwargs)
        self.num_classes = int(num_classes)

    def load(self) -> dict[str, Pair]:
        x, y = datasets.make_blobs(
            self.num_samples,
            n_features=2,
            centers=self.num_classes,
            cluster_std=max(self.noise, 1e-6),
            random_state=self.seed,
        )
        return {"train": self.pair(x, y, binary=False)}
