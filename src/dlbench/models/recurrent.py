"""Recurrent networks: Elman RNN, LSTM (Hochreiter & Schmidhuber 1997) and GRU (Cho et al. 2014)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.errors import require

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def as_sequence(spec: DataSpec) -> tuple[int, int]:
    """(steps, features) the network reads: a sequence as it is, an image row by row."""
    if spec.sequence:
        return spec.input_shape[0], spec.input_shape[1]
    channels, height, width = spec.input_shape
    return height, channels * width


class Recurrent(nn.Module):
    """input sequence -> stacked recurrent layers -> Linear, from the last state or at every step.

    Many-to-one (`per_step=False`, the dataset classifies or regresses a whole sequence): the
    head reads the final hidden state of the last layer (both directions' when bidirectional).
    Many-to-many (`per_step=True`, e.g. next-step prediction): the head reads the output at every
    step and the model returns (batch, steps, outputs). A bidirectional network sees the future
    of every step, so for next-step prediction keep `bidirectional=false`.

    Images are read as sequences, one row per step (C x H x W -> H steps of C*W features), so
    `model=lstm dataset=mnist` is sequential MNIST: 28 steps of 28 pixels.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        per_step: bool = False,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        self.image_rows = len(input_shape) == 3
        features = input_shape[0] * input_shape[2] if self.image_rows else input_shape[-1]
        options = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            features, hidden_size, num_layers, batch_first=True, dropout=dropout, bidirectional=bidirectional, **options
        )
        self.per_step = per_step
        self.directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * self.directions, num_outputs)

    @staticmethod
    def check_data(spec: DataSpec, name: str) -> None:
        require(
            spec.sequence or spec.is_image,
            f"{name} needs sequences (time x features) or images read row by row; dataset {spec.name} gives "
            f"{spec.describe()}; use model=mlp.",
        )
        require(
            not spec.per_step or spec.sequence,
            f"{name} predicts at every step only on sequence data, but dataset {spec.name} gives {spec.describe()}.",
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.image_rows:  # (B, C, H, W) -> (B, H, C*W): one row of pixels per step
            x = x.permute(0, 2, 1, 3).flatten(2)
        outputs, state = self.rnn(x)
        if self.per_step:
            return self.head(outputs)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        last = hidden[-self.directions :].transpose(0, 1).flatten(1)  # last layer, every direction
        return self.head(last)
