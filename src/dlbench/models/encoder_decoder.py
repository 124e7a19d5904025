"""An encoder-decoder for pixel classification: the convolutional autoencoder's shape, class maps out.

Encoder: [conv 3x3 /2 -> activation] per entry of `channels`, each halving height and width.
Decoder: the mirror, each stage upsampling (nearest) back to the size of the encoder level above
it, exactly (odd sizes too), then a 3x3 convolution; a last 3x3 convolution gives one map per
class (logits, `(N, C, H, W)`). Unlike the autoencoder there is no flat code in the middle: a
vector would throw away where things are. The autoencoder's transposed 3x3 convolutions with
stride 2 were tried first and painted the predicted masks in alternating stripes of two classes
(their kernels overlap unevenly: Odena et al. 2016, "Deconvolution and checkerboard
artifacts"); resizing, then convolving, does not.

`skips=true` makes it a small U-Net (Ronneberger et al. 2015): each decoder stage also reads the
encoder's features at its resolution (concatenated), and the last one the input image, so fine
detail lost by downsampling comes back. docs/output-units.md compares both on dataset=shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.errors import require
from dlbench.models.activations import make_activation
from dlbench.models.checks import require_images


class EncoderDecoder(nn.Module):
    """images (N, C_in, H, W) -> logits (N, num_outputs, H, W)."""

    per_pixel = True  # one prediction per pixel: the task reads the class dimension as dim 1

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        channels: Sequence[int] = (16, 32),
        activation: str = "relu",
        skips: bool = True,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        require(
            len(channels) >= 1 and all(c >= 1 for c in channels),
            f"model.channels={list(channels)} needs at least one layer of at least 1 channel, e.g. [16, 32].",
        )
        require(
            activation != "maxout",
            "model.activation=maxout is not available in encoder_decoder; choose relu, tanh, elu or another of the "
            "shared set.",
        )
        self.skips = skips
        depth, height, width = input_shape
        sizes = [(height, width)]
        widths = [depth, *channels]
        self.down = nn.ModuleList()
        for channels_in, channels_out in zip(widths[:-1], widths[1:], strict=False):
            self.down.append(
                nn.Sequential(
                    nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1),
                    make_activation(activation, negative_slope),
                )
            )
            height, width = (height + 1) // 2, (width + 1) // 2
            sizes.append((height, width))
        self.up = nn.ModuleList()
        channels_in = widths[-1]
        for level in range(len(channels), 0, -1):  # back to the resolution of encoder level `level - 1`
            channels_out = widths[level - 1] if level > 1 else widths[1]
            self.up.append(
                nn.Sequential(
                    nn.Upsample(size=sizes[level - 1], mode="nearest"),
                    nn.Conv2d(channels_in, channels_out, 3, padding=1),
                    make_activation(activation, negative_slope),
                )
            )
            channels_in = channels_out + (widths[level - 1] if skips else 0)
        self.head = nn.Conv2d(channels_in, num_outputs, 3, padding=1)

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_images(spec, name, "use a segmentation dataset such as dataset=shapes")

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for stage in self.down:
            features.append(stage(features[-1]))
        h = features[-1]
        for index, stage in enumerate(self.up):
            h = stage(h)
            if self.skips:
                h = torch.cat([h, features[len(self.up) - 1 - index]], dim=1)
        return self.head(h)
