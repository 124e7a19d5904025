"""Two one-dimensional regression problems where the mean alone is the wrong answer.

- `Heteroscedastic`: y = sin(2 pi x) + noise whose standard deviation grows linearly with x.
  A Gaussian output with a learned variance (`loss=gaussian_nll`) can follow the noise; MSE
  learns the mean and says nothing about it.
- `InverseSine`: Bishop's inverse problem (Bishop 1994, "Mixture density networks", section 5):
  t ~ U(0, 1), x = t + 0.3 sin(2 pi t) + U(-0.1, 0.1); predict t from x. For x in about
  (0.35, 0.65) three values of t give the same x, so the conditional distribution has three
  branches; MSE learns their average, which lies on none of them, and a mixture density network
  (`loss=mdn`) recovers them.

Inputs and targets are left in their own units (`standardize=False`) so the learned noise can be
compared with the true one and the pictures show the data as generated. Targets are `(N, 1)`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from dlbench.data.module import InMemoryDataModule, Pair
from dlbench.errors import require


class _Curve(InMemoryDataModule):
    """`num_samples` (x, y) pairs, a function of the seed."""

    kind = "regression"

    def __init__(self, num_samples: int = 1000, standardize: bool = False, **kwargs: Any) -> None:
        super().__init__(standardize=standardize, **kwargs)
        require(
            float(num_samples).is_integer() and num_samples >= 10,
            f"dataset.num_samples={num_samples} is invalid for dataset {self.name}; use a whole number >= 10.",
        )
        self.num_samples = int(num_samples)

    @staticmethod
    def pair(x: np.ndarray, y: np.ndarray) -> Pair:
        return torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1), torch.as_tensor(y, dtype=torch.float32).reshape(
            -1, 1
        )


class Heteroscedastic(_Curve):
    """x ~ U(0, 1), y = sin(2 pi x) + N(0, sigma(x)^2), sigma(x) = noise_min + (noise_max - noise_min) x."""

    name = "heteroscedastic"

    def __init__(self, noise_min: float = 0.05, noise_max: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require(
            0 <= noise_min <= noise_max,
            f"dataset.noise_min={noise_min} and dataset.noise_max={noise_max} must satisfy 0 <= noise_min <= "
            "noise_max (standard deviations at x=0 and x=1).",
        )
        self.noise_min, self.noise_max = noise_min, noise_max

    def noise_std(self, x: np.ndarray | torch.Tensor) -> Any:
        """The true standard deviation of y at x."""
        return self.noise_min + (self.noise_max - self.noise_min) * x

    def load(self) -> dict[str, Pair]:
        rng = np.random.RandomState(self.seed)
        x = rng.uniform(0, 1, self.num_samples)
        y = np.sin(2 * math.pi * x) + rng.normal(0, 1, self.num_samples) * self.noise_std(x)
        return {"train": self.pair(x, y)}


class InverseSine(_Curve):
    """Bishop's inverse problem: t ~ U(0, 1), x = t + 0.3 sin(2 pi t) + U(-noise, noise); predict t from x."""

    name = "inverse_sine"

    def __init__(self, noise: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        require(noise >= 0, f"dataset.noise={noise} is invalid for dataset inverse_sine; use a half-width >= 0.")
        self.noise = noise

    @staticmethod
    def forward_map(t: np.ndarray) -> np.ndarray:
        return t + 0.3 * np.sin(2 * math.pi * t)

    def load(self) -> dict[str, Pair]:
        rng = np.random.RandomState(self.seed)
        t = rng.uniform(0, 1, self.num_samples)
        x = self.forward_map(t) + rng.uniform(-self.noise, self.noise, self.num_samples)
        return {"train": self.pair(x, t)}

    @classmethod
    def branches(cls, x: float, resolution: int = 20001) -> list[float]:
        """Every t in [0, 1] with t + 0.3 sin(2 pi t) = x (noise-free): one value outside about
        (0.35, 0.65), three inside. Found as sign changes on a fine grid, refined linearly."""
        t = np.linspace(0, 1, resolution)
        gap = cls.forward_map(t) - x
        gap[gap == 0] = 1e-12  # a grid point exactly on a root counts once
        roots = []
        for i in np.flatnonzero(np.sign(gap[:-1]) != np.sign(gap[1:])):
            roots.append(float(t[i] - gap[i] * (t[i + 1] - t[i]) / (gap[i + 1] - gap[i])))
        return roots
