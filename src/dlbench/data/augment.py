"""Data augmentation on a batch of image tensors, each image with its own random draw.

The images already live in one tensor (possibly on the GPU), so augmentation runs on the batch
after it reaches the device: `InMemoryDataModule.on_after_batch_transfer`, training split only.
torchvision's `transforms.v2` ops draw one set of parameters per call, which on a batch would
crop, flip or rotate every image the same way; these ops draw per image, with the same
arithmetic (`affine_grid` + `grid_sample` is how `v2.RandomAffine` warps a tensor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Augment:
    """What `dataset.augment.*` turns on; all off by default.

    crop_padding: pad by this many pixels (zeros), then crop back at a random offset (0: off).
    hflip: mirror each image left-right with probability 1/2 (not for digits).
    degrees, translate, scale: a small random affine map; rotation in +-degrees, shift up to this
        fraction of the image size, zoom in [1-scale, 1+scale] (all 0: off).
    noise_std: add Gaussian noise of this standard deviation, in normalised units (0: off).
    """

    crop_padding: int = 0
    hflip: bool = False
    degrees: float = 0.0
    translate: float = 0.0
    scale: float = 0.0
    noise_std: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.hflip or self.degrees or self.translate or self.scale or self.noise_std)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None, fill: Tensor | None = None) -> Tensor:
        """Augment a batch `(B, C, H, W)`; returns a new tensor.

        `fill` is the per-channel value of a black pixel after normalisation: what the padding of
        a crop and the corners uncovered by a rotation show, as when augmenting before normalising.
        """
        fill = (
            torch.zeros(images.shape[1], device=images.device, dtype=images.dtype) if fill is None else fill.to(images)
        )
        fill = fill.reshape(1, -1, 1, 1)
        images = images - fill  # black is 0 while padding and warping
        if self.crop_padding:
            images = random_crop(images, int(self.crop_padding), generator)
        if self.hflip:
            flip = torch.rand(len(images), device=images.device, generator=generator) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        if self.degrees or self.translate or self.scale:
            images = random_affine(images, self.degrees, self.translate, self.scale, generator)
        images = images + fill
        if self.noise_std:
            images = images + self.noise_std * torch.randn(images.shape, device=images.device, generator=generator)
        return images


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each side by `padding`, then cut each image back to size at its own offset."""
    batch, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (batch,), device=images.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (batch,), device=images.device, generator=generator)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
    index = torch.arange(batch, device=images.device)[:, None, None, None]
    return padded[index, torch.arange(channels, device=images.device)[None, :, None, None], rows, cols]


def random_affine(
    images: Tensor, degrees: float, translate: float, scale: float, generator: torch.Generator | None = None
) -> Tensor:
    """Rotate, shift and zoom each image by its own small random amount (bilinear, zero fill)."""
    batch = len(images)
    device = images.device

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(batch, device=device, generator=generator)

    angle = uniform(-degrees, degrees) * (math.pi / 180)
    zoom = uniform(1 - scale, 1 + scale)
    shift_x, shift_y = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2  # grid units span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
