"""What a dataset tells the model and the task about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["multiclass", "binary", "regression"]


@dataclass(frozen=True)
class DataSpec:
    """The shape of one example and what is predicted from it.

    Models are built from this (so model configs hold only architecture choices) and the task
    picks its default loss and metrics from `kind`.
    """

    name: str
    input_shape: tuple[int, ...]
    num_outputs: int
    kind: Kind
    sequence: bool = False  # inputs are (time, features)
    per_step: bool = False  # a target at every time step (many-to-many)
    per_pixel: bool = False  # a class for every pixel of an image (segmentation): outputs (N, C, H, W)
    class_distances: tuple[tuple[float, ...], ...] | None = None  # between classes, for loss=wasserstein_dice

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3 and not self.sequence

    @property
    def num_features(self) -> int:
        size = 1
        for dim in self.input_shape:
            size *= dim
        return size

    def describe(self) -> str:
        """A short phrase for error messages, e.g. '4 features' or '1x28x28 images'."""
        if self.sequence:
            steps, features = self.input_shape
            return f"sequences of {steps} steps x {features} features"
        if self.is_image:
            return "x".join(map(str, self.input_shape)) + " images"
        if len(self.input_shape) == 1:
            return f"{self.input_shape[0]} features"
        return "inputs of shape " + "x".join(map(str, self.input_shape))
