"""Size and cost of a model: parameter count and forward FLOPs per example."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _lstm_flops(
    input_shape,
    hx,
    params,
    has_biases,
    num_layers,
    dropout,
    train,
    bidirectional,
    batch_first,
    *args,
    out_shape=None,
    **kwargs,
) -> int:
    """aten::lstm runs as one fused kernel on the CPU, which FlopCounterMode does not see into.

    Every weight matrix (4H x inputs, 4H x H) is multiplied with one vector per example and step.
    """
    steps = input_shape[0] * input_shape[1]  # batch x time, in either layout
    return sum(2 * steps * shape[0] * shape[1] for shape in params if len(shape) == 2)


def _mkldnn_layer_flops(input_shape, weight_ih, weight_hh, *args, out_shape=None, **kwargs) -> int:
    """One layer and direction of the oneDNN LSTM the CPU uses: the same count as `_lstm_flops`."""
    return _lstm_flops(input_shape, None, [weight_ih, weight_hh], True, 1, 0.0, False, False, True)


_RECURRENT = {torch.ops.aten.lstm: _lstm_flops, torch.ops.aten.mkldnn_rnn_layer: _mkldnn_layer_flops}


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@torch.no_grad()
def forward_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one example, counted by PyTorch's own FlopCounterMode.

    Counted on a batch of two (batch norm needs more than one example) and halved; the model's
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else "cpu"
        with FlopCounterMode(display=False, custom_mapping=_RECURRENT) as counter:
            model(torch.zeros(2, *input_shape, device=device))
        return counter.get_total_flops() // 2
    finally:
        model.train(was_training)
