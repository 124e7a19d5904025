"""A model for the DDP divergence test: its loss becomes NaN on process 1 only, from its 2nd step."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from dlbench.models.mlp import MLP


class NanOnRankOne(MLP):
    steps = 0

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if self.training and dist.is_available() and dist.is_initialized() and dist.get_rank() == 1:
            NanOnRankOne.steps += 1
            if NanOnRankOne.steps > 1:
                out = out * torch.tensor(float("nan"))
        return out
