"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) as one tower, and a small variant for 32x32 images."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.models.checks import flat_size, require_images

# (out channels, kernel, stride, padding, max-pool after) for the five convolutions, and the two
# hidden widths of the fully connected part.
VARIANTS: dict[str, tuple[list[tuple[int, int, int, int, bool]], int]] = {
    "imagenet": (
        [
            (96, 11, 4, 2, True),
            (256, 5, 1, 2, True),
            (384, 3, 1, 1, False),
            (384, 3, 1, 1, False),
            (256, 3, 1, 1, True),
        ],
        4096,
    ),
    "cifar": (
        [(64, 5, 1, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False), (256, 3, 1, 1, False), (256, 3, 1, 1, True)],
        1024,
    ),
}


class AlexNet(nn.Module):
    """Five convolutions and three fully connected layers, ReLU, dropout in the classifier.

    `variant=imagenet` is the 2012 network with its two GPU towers merged into one; at 3x224x224
    with 1000 classes it has 62,378,344 parameters:

    =====  ===========================  ============  ==========
    layer  operation                    output        parameters
    =====  ===========================  ============  ==========
    conv1  conv 11x11 /4, 96 (pad 2)    96x55x55      34,944
    pool   max-pool 3x3 /2              96x27x27      0
    conv2  conv 5x5, 256 (pad 2)        256x27x27     614,656
    pool   max-pool 3x3 /2              256x13x13     0
    conv3  conv 3x3, 384 (pad 1)        384x13x13     885,120
    conv4  conv 3x3, 384 (pad 1)        384x13x13     1,327,488
    conv5  conv 3x3, 256 (pad 1)        256x13x13     884,992
    pool   max-pool 3x3 /2              256x6x6       0
    fc6    dropout, 9216 -> 4096        4096          37,752,832
    fc7    dropout, 4096 -> 4096        4096          16,781,312
    fc8    4096 -> classes              1000          4,097,000
    =====  ===========================  ============  ==========

    `variant=cifar` keeps the recipe for 32x32 images with smaller kernels and strides and
    narrower layers, so it trains on a CPU (5,871,434 parameters for 10 classes):

    =====  ===========================  ============  ==========
    layer  operation                    output        parameters
    =====  ===========================  ============  ==========
    conv1  conv 5x5 /1, 64 (pad 2)      64x32x32      4,864
    pool   max-pool 3x3 /2              64x15x15      0
    conv2  conv 5x5, 192 (pad 2)        192x15x15     307,392
    pool   max-pool 3x3 /2              192x7x7       0
    conv3  conv 3x3, 384 (pad 1)        384x7x7       663,936
    conv4  conv 3x3, 256 (pad 1)        256x7x7       884,992
    conv5  conv 3x3, 256 (pad 1)        256x7x7       590,080
    pool   max-pool 3x3 /2              256x3x3       0
    fc6    dropout, 2304 -> 1024        1024          2,360,320
    fc7    dropout, 1024 -> 1024        1024          1,049,600
    fc8    1024 -> classes              10            10,250
    =====  ===========================  ============  ==========

    `lrn=true` adds the paper's local response normalisation (n=5, alpha=1e-4, beta=0.75, k=2)
    after the ReLU of conv1 and conv2. The flattened size is computed from the input shape.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        variant: str = "imagenet",
        dropout: float = 0.5,
        lrn: bool = False,
    ) -> None:
        super().__init__()
        convs, width = VARIANTS[variant]
        layers: list[nn.Module] = []
        channels = input_shape[0]
        for index, (out, kernel, stride, padding, pool) in enumerate(convs):
            layers += [nn.Conv2d(channels, out, kernel, stride, padding), nn.ReLU(inplace=True)]
            if lrn and index < 2:
                layers.append(nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0))
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            channels = out
        self.features = nn.Sequential(*layers)
        fix = "use model.variant=cifar for small images" if variant == "imagenet" else "use model=mlp or larger images"
        flat = flat_size(self.features, input_shape, f"alexnet (variant={variant})", fix)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(flat, width),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(width, width),
            nn.ReLU(inplace=True),
            nn.Linear(width, num_outputs),
        )

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_images(spec, name, "use model=mlp")

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
