"""Autoencoders: learn a code from which the input is rebuilt; the labels are not used.

A model with `reconstructs = True` makes the task use the input as the target (MSE by default, BCE
on request). Two variants are options of the same classes:

- sparse (`sparsity > 0`): an L1 penalty on the code, `sparsity * mean over the batch of |code|_1`.
  The model keeps the code of its last forward pass and hands the task the penalty through
  `penalties()`, so the term is added to the loss and logged as `penalty` like any regulariser's.
- denoising (`noise_std > 0`): Gaussian noise is added to the input inside `forward` in training
  mode only; the task's target is still the clean input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.models.activations import make_activation, width_factor
from dlbench.models.checks import require_images

Penalty = Callable[[nn.Module], Tensor]


class _Reconstruction(nn.Module):
    """What both autoencoders share: noise on the input, the code kept for its sparsity penalty."""

    reconstructs = True

    def __init__(self, code_size: int, sparsity: float, noise_std: float) -> None:
        super().__init__()
        self.code_size, self.sparsity, self.noise_std = code_size, sparsity, noise_std
        self.code: Tensor | None = None

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, code: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        self.code = self.encode(x)
        return self.decode(self.code)

    def sparsity_penalty(self) -> Tensor:
        """`sparsity` times the L1 norm of the last code, averaged over the batch."""
        assert self.code is not None, "the penalty reads the code of a forward pass"
        return self.sparsity * self.code.abs().flatten(1).sum(dim=1).mean()

    def penalties(self) -> list[tuple[str, Penalty]]:
        """Loss terms the model adds itself: the sparse variant's L1 on the code."""
        return [("sparsity", lambda model: model.sparsity_penalty())] if self.sparsity > 0 else []


class Autoencoder(_Reconstruction):
    """input -> [Linear -> activation] x hidden -> code -> mirrored decoder -> input shape.

    The code may be smaller than the input (undercomplete: it must compress) or larger
    (overcomplete: without `sparsity` or `noise_std` it can learn to copy). The code layer and the
    output are linear, so standardised inputs (any sign) are rebuilt.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        code_size: int = 32,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        sparsity: float = 0.0,
        noise_std: float = 0.0,
        negative_slope: float = 0.01,
        maxout_pieces: int = 2,
    ) -> None:
        super().__init__(code_size, sparsity, noise_std)
        self.input_shape = tuple(input_shape)
        features = 1
        for dim in input_shape:
            features *= dim
        k = width_factor(activation, maxout_pieces)

        def stack(widths: list[int]) -> list[nn.Module]:
            layers: list[nn.Module] = []
            for width_in, width_out in zip(widths[:-2], widths[1:-1], strict=False):
                layers += [
                    nn.Linear(width_in, width_out * k),
                    make_activation(activation, negative_slope, maxout_pieces),
                ]
            return [*layers, nn.Linear(widths[-2], widths[-1])]

        self.encoder = nn.Sequential(nn.Flatten(), *stack([features, *hidden, code_size]))
        self.decoder = nn.Sequential(
            *stack([code_size, *reversed(hidden), features]), nn.Unflatten(1, self.input_shape)
        )

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code)


class ConvAutoencoder(_Reconstruction):
    """Images -> [conv 3x3 /2 -> activation] x channels -> Linear code -> mirrored transposed convs.

    Each convolution halves height and width (rounding up); the decoder's transposed convolutions
    double them back to exactly the input size, odd sizes included. The code is a vector of
    `code_size` numbers between the two halves.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        code_size: int = 32,
        channels: Sequence[int] = (16, 32),
        activation: str = "relu",
        sparsity: float = 0.0,
        noise_std: float = 0.0,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__(code_size, sparsity, noise_std)

        def act() -> nn.Module:
            return make_activation(activation, negative_slope)

        depth, height, width = input_shape
        sizes = [(height, width)]
        encoder: list[nn.Module] = []
        for channels_in, channels_out in zip([depth, *channels[:-1]], channels, strict=False):
            encoder += [nn.Conv2d(channels_in, channels_out, 3, stride=2, padding=1), act()]
            height, width = (height + 1) // 2, (width + 1) // 2
            sizes.append((height, width))
        grid = (channels[-1], height, width)
        flat = channels[-1] * height * width
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(flat, code_size))
        decoder: list[nn.Module] = [nn.Linear(code_size, flat), nn.Unflatten(1, grid), act()]
        outs = [*reversed(channels[:-1]), depth]
        ins = list(reversed(channels))
        for index, (channels_in, channels_out) in enumerate(zip(ins, outs, strict=False)):
            (h_in, w_in), (h_out, w_out) = sizes[-1 - index], sizes[-2 - index]
            padding = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            decoder.append(
                nn.ConvTranspose2d(channels_in, channels_out, 3, stride=2, padding=1, output_padding=padding)
            )
            if index < len(outs) - 1:
                decoder.append(act())
        self.decoder = nn.Sequential(*decoder)

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_images(spec, name, "use model=autoencoder")

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code)
