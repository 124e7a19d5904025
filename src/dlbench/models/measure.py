"""Size and cost of a model: parameter count and forward FLOPs per example."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


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
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(2, *input_shape, device=device))
        return counter.get_total_flops() // 2
    finally:
        model.train(was_training)
