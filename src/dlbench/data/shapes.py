"""A segmentation dataset that runs offline: circles, squares and triangles, a class for every pixel.

Why synthetic shapes rather than the foreground masks of the 8x8 digits: a digit's mask is its
bright pixels, so a threshold on each pixel (a 1x1 convolution) already finds it and the task
teaches nothing about segmentation. Here every shape is drawn with a random brightness on a
noisy background, so a pixel's class (circle, square or triangle) is not in its value but in the
shape it belongs to: the network has to look at a neighbourhood, as real segmentation does. The
labels are exact by construction, the classes are imbalanced (mostly background, objects of a
few dozen pixels), which is where dice differs from cross-entropy, and the classes have a natural
distance for the Wasserstein dice: taking a circle for a square is a lesser mistake than missing
the object (`CLASS_DISTANCES`).

Images `(N, 1, size, size)`; targets `(N, size, size)` class indices (0 background, 1 circle,
2 square, 3 triangle), or with `binary=true` a foreground mask `(N, 1, size, size)` of 0/1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dlbench.data.module import InMemoryDataModule, Pair
from dlbench.data.spec import DataSpec
from dlbench.errors import require

CLASSES = ("background", "circle", "square", "triangle")
# background is 1 from everything (Fidon et al.'s convention); two shapes are 0.5 apart
CLASS_DISTANCES = ((0.0, 1.0, 1.0, 1.0), (1.0, 0.0, 0.5, 0.5), (1.0, 0.5, 0.0, 0.5), (1.0, 0.5, 0.5, 0.0))


def draw_shape(kind: int, size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    """Boolean mask of one shape: 1 a disc, 2 an axis-aligned square of about the disc's area,
    3 an upward triangle inside the disc's bounding box."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy, dx = rows - centre[0], cols - centre[1]
    if kind == 1:
        return dx**2 + dy**2 <= radius**2
    if kind == 2:
        half = 0.886 * radius  # sqrt(pi) / 2: the disc's area
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    depth = (dy + radius) / (2 * radius)  # 0 at the apex, 1 at the base
    return (depth >= 0) & (depth <= 1) & (np.abs(dx) <= depth * radius * 1.15)


class Shapes(InMemoryDataModule):
    """`num_samples` images with 1 to `max_shapes` random shapes each, classes per pixel."""

    name = "shapes"
    kind = "multiclass"

    def __init__(
        self,
        num_samples: int = 1000,
        size: int = 32,
        max_shapes: int = 3,
        noise: float = 0.1,
        binary: bool = False,
        standardize: bool = False,
        stratify: bool = False,
        **kwargs: Any,
    ) -> None:
        self.kind = "binary" if binary else "multiclass"  # set before the base reads it
        super().__init__(standardize=standardize, stratify=False, **kwargs)
        require(
            float(num_samples).is_integer() and num_samples >= 10,
            f"dataset.num_samples={num_samples} is invalid for dataset shapes; use a whole number >= 10.",
        )
        require(
            float(size).is_integer() and size >= 8,
            f"dataset.size={size} is invalid for dataset shapes; use a whole number of pixels >= 8.",
        )
        require(
            float(max_shapes).is_integer() and max_shapes >= 1,
            f"dataset.max_shapes={max_shapes} is invalid for dataset shapes; use a whole number >= 1.",
        )
        require(noise >= 0, f"dataset.noise={noise} is invalid for dataset shapes; use a standard deviation >= 0.")
        self.num_samples, self.size, self.max_shapes = int(num_samples), int(size), int(max_shapes)
        self.noise, self.binary = noise, bool(binary)

    def load(self) -> dict[str, Pair]:
        rng = np.random.RandomState(self.seed)
        size = self.size
        images = rng.normal(0, self.noise, (self.num_samples, 1, size, size)).astype(np.float32)
        labels = np.zeros((self.num_samples, size, size), dtype=np.int64)
        for index in range(self.num_samples):
            for _ in range(rng.randint(1, self.max_shapes + 1)):
                kind = rng.randint(1, len(CLASSES))
                radius = rng.uniform(size / 8, size / 4)
                centre = (rng.uniform(radius, size - radius), rng.uniform(radius, size - radius))
                mask = draw_shape(kind, size, centre, radius)
                labels[index][mask] = kind  # a later shape covers an earlier one
                images[index, 0][mask] = rng.uniform(0.4, 1.0) + rng.normal(0, self.noise, int(mask.sum()))
        targets = torch.as_tensor(labels)
        if self.binary:
            targets = (targets > 0).float().unsqueeze(1)
        return {"train": (torch.as_tensor(images), targets)}

    def _check_augment(self, inputs: Tensor) -> None:
        require(
            not self.augment.active,
            "dataset.augment would move the images of dataset shapes but not their masks; leave it off (every "
            "image already has its own random shapes).",
        )

    def make_spec(self, inputs: Tensor, targets: Tensor) -> DataSpec:
        spec = DataSpec(self.name, tuple(inputs.shape[1:]), 1 if self.binary else len(CLASSES), self.kind)
        return dataclasses.replace(spec, per_pixel=True, class_distances=None if self.binary else CLASS_DISTANCES)
