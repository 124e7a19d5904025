"""Sequence tasks for recurrent models: inputs `(N, T, F)`, one target per sequence or per step.

`sine` is next-step prediction (a target at every step); `adding` (Hochreiter & Schmidhuber
1997) and `parity` need memory across the whole length `T`, which is what separates an LSTM from
a plain RNN as `T` grows; `seq_mnist` reads MNIST one row per step (28 steps of 28 pixels).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from dlbench.data.module import InMemoryDataModule, Pair
from dlbench.data.vision import MNIST
from dlbench.errors import require


class SequenceDataModule(InMemoryDataModule):
    """`num_samples` generated sequences of `length` steps, fixed by `seed`."""

    sequence = True

    def __init__(self, num_samples: int = 1000, length: int = 50, standardize: bool = False, **kwargs: Any) -> None:
        super().__init__(standardize=standardize, **kwargs)
        # the schema checks that length is a whole number >= 1; some tasks need more steps than that
        require(
            length >= self.min_length,
            f"dataset.length={length} is too short for dataset {self.name}; use a whole number >= {self.min_length}.",
        )
        self.num_samples, self.length = int(num_samples), int(length)

    min_length = 1

    def generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)


class Sine(SequenceDataModule):
    """Sine waves of random frequency and phase; predict the next value at every step."""

    name = "sine"
    kind = "regression"
    per_step = True

    def __init__(self, noise: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.noise = noise

    def load(self) -> dict[str, Pair]:
        g = self.generator()
        n = self.num_samples
        omega = 0.1 + 0.4 * torch.rand(n, 1, generator=g)  # radians per step: periods of 16 to 63 steps
        phase = 2 * math.pi * torch.rand(n, 1, generator=g)
        wave = torch.sin(omega * torch.arange(self.length + 1) + phase)
        observed = wave + self.noise * torch.randn(wave.shape, generator=g)
        return {"train": (observed[:, :-1, None].contiguous(), wave[:, 1:, None].contiguous())}


class Adding(SequenceDataModule):
    """The adding problem: two channels, a value in [0, 1] and a marker; target the sum of the two
    marked values (one marked in each half of the sequence). Predicting 1 scores MSE ~0.167."""

    name = "adding"
    kind = "regression"
    min_length = 2

    def load(self) -> dict[str, Pair]:
        g = self.generator()
        n, t = self.num_samples, self.length
        values = torch.rand(n, t, generator=g)
        half = t // 2
        first = torch.randint(0, half, (n,), generator=g)
        second = torch.randint(half, t, (n,), generator=g)
        markers = torch.zeros(n, t)
        rows = torch.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        target = (values * markers).sum(1, keepdim=True)
        return {"train": (torch.stack([values, markers], -1), target)}


class Parity(SequenceDataModule):
    """A bit sequence; target 1 when it holds an odd number of ones (one logit at the end).

    Every bit matters to the answer, so the model must carry one bit of state across all `T`
    steps: easy for small `T`, notoriously hard for gradient descent as `T` grows.
    """

    name = "parity"
    kind = "binary"

    def load(self) -> dict[str, Pair]:
        bits = torch.randint(0, 2, (self.num_samples, self.length), generator=self.generator())
        parity = (bits.sum(1) % 2).float().unsqueeze(1)
        return {"train": (bits.float().unsqueeze(-1), parity)}


class SequentialMNIST(MNIST):
    """MNIST read one row per time step: 28 steps of 28 pixels, the class at the end."""

    name = "seq_mnist"
    sequence = True

    def normalize(self, train_inputs: Tensor) -> tuple[Tensor, Tensor] | None:
        if not self.standardize:
            return None
        return torch.tensor(self.mean[0]), torch.tensor(self.std[0])

    def images(self, dataset: Any) -> Pair:
        images, labels = super().images(dataset)
        return images.squeeze(1), labels  # (N, 28 rows = steps, 28 pixels = features)
