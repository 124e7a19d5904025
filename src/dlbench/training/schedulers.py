"""Learning-rate schedules that torch has only as parts: linear warm-up, then constant or cosine."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LinearLR, LRScheduler, SequentialLR


def warmup(
    optimizer: Optimizer,
    warmup_epochs: int = 5,
    start_factor: float = 0.1,
    after: str = "constant",
    total_epochs: int | None = None,
    eta_min: float = 0.0,
) -> LRScheduler:
    """Rise linearly from `start_factor x lr` to `lr` over `warmup_epochs`, then hold or cosine-decay.

    Warm-up (Goyal et al. 2017) keeps the first steps of a large rate from throwing the weights
    far away while they are still random. Stepped once per epoch.
    """
    rise = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup_epochs)
    if after == "constant":
        hold = ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        assert total_epochs is not None  # the schema refuses a cosine warm-up without total_epochs
        hold = CosineAnnealingLR(optimizer, T_max=total_epochs - warmup_epochs, eta_min=eta_min)
    return SequentialLR(optimizer, [rise, hold], milestones=[warmup_epochs])
