"""LeNet (LeCun, Bottou, Bengio & Haffner 1998), as in Caffe's MNIST example and the course notes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.models.activations import make_activation, width_factor
from dlbench.models.checks import flat_size, require_images


class LeNet(nn.Module):
    """The classic layer table; for 1x28x28 inputs and 10 classes it has 431,080 parameters.

    ======  ===========================  ==============  ==========
    layer   operation                    output (MNIST)  parameters
    ======  ===========================  ==============  ==========
    conv1   conv 5x5, 20 maps            20x24x24        520
    pool1   max-pool 2x2, stride 2       20x12x12        0
    conv2   conv 5x5, 50 maps            50x8x8          25,050
    pool2   max-pool 2x2, stride 2       50x4x4          0
    fc1     fully connected 800 -> 500   500             400,500
    fc2     fully connected 500 -> 10    10              5,010
    ======  ===========================  ==============  ==========

    The activation (ReLU by default, `tanh` for the 1998 flavour, or any of the shared set) follows
    each convolution and fc1. For other image sizes the flattened size is computed from the input:
    3x32x32 (CIFAR-10) gives 50x5x5 = 1250 inputs to fc1.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        activation: str = "relu",
        negative_slope: float = 0.01,
        maxout_pieces: int = 2,
    ) -> None:
        super().__init__()
        k = width_factor(activation, maxout_pieces)

        def act() -> nn.Module:
            return make_activation(activation, negative_slope, maxout_pieces)

        channels = input_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(channels, 20 * k, kernel_size=5),
            act(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(20, 50 * k, kernel_size=5),
            act(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        flat = flat_size(
            self.features,
            input_shape,
            "lenet",
            "use images of at least 16x16 (dataset=digits takes dataset.size=28) or model=mlp",
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, 500 * k),
            act(),
            nn.Linear(500, num_outputs),
        )

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require_images(spec, name)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
