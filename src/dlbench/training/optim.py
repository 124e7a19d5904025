"""The optimizer a task trains with, and the linear scaling of its rate with the batch size."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from dlbench.errors import ConfigError, require

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SCALING_KEYS = ("scale_lr_with_batch", "reference_batch")


def make_optimizer(optimizer_cfg: DictConfig) -> OptimizerFactory:
    """`optimizer_cfg` as a partial taking the parameters; the scaling keys are ours, not torch's."""
    config = {key: value for key, value in optimizer_cfg.items() if key not in SCALING_KEYS}
    factory = instantiate(config, _convert_="all")
    check_optimizer(factory, str(optimizer_cfg.get("_target_", "optimizer")))
    return factory


def check_optimizer(factory: OptimizerFactory, target: str) -> None:
    """Build the optimizer once on a dummy parameter, so torch's own range checks run before training."""
    try:
        factory([torch.zeros(1, requires_grad=True)])
    except (ValueError, TypeError) as error:
        detail = str(error).rstrip(".").replace(".__init__()", "()")
        raise ConfigError(
            f"{target.rsplit('.', 1)[-1]} refuses the optimizer.* settings ({detail}); fix the value it names."
        ) from None


def scaled_lr(optimizer_cfg: DictConfig, batch_size: int) -> float | None:
    """The rate a run trains with: `lr`, or `lr x batch_size / reference_batch` when scaling is on.

    The linear scaling rule of Goyal et al. (2017): k times the batch takes k times the rate, so
    the same number of epochs covers the same distance.
    """
    lr = optimizer_cfg.get("lr")
    if lr is None or not optimizer_cfg.get("scale_lr_with_batch", False):
        return lr
    reference = optimizer_cfg.get("reference_batch", 256)
    require(
        isinstance(reference, int) and reference >= 1,
        f"optimizer.reference_batch={reference!r} must be a whole number >= 1, e.g. 256.",
    )
    return float(lr) * batch_size / reference


def scale_learning_rate(task: Any, optimizer_cfg: DictConfig, batch_size: int) -> float | None:
    """Make `task` build its optimizer with the scaled rate; record the rate on `task.lr`."""
    lr = scaled_lr(optimizer_cfg, batch_size)
    if lr is not None and lr != optimizer_cfg.get("lr"):
        task.optimizer_factory = functools.partial(task.optimizer_factory, lr=lr)
    task.lr = lr
    return lr
