"""Checks of configuration values that no constructor makes before training starts.

Each failing check raises `ConfigError` with one sentence naming the key, the value and the
allowed range; constructors (models, data modules) check their own arguments the same way.
"""

from __future__ import annotations

from omegaconf import DictConfig

from dlbench.errors import require


def check_config(cfg: DictConfig) -> None:
    lr = cfg.optimizer.get("lr")
    require(lr is None or lr > 0, f"optimizer.lr={lr} must be > 0; try 0.1 for SGD or 0.001 for Adam.")
    momentum = cfg.optimizer.get("momentum")
    require(
        momentum is None or 0 <= momentum < 1,
        f"optimizer.momentum={momentum} is outside [0, 1); 0.9 is the usual value.",
    )
    epochs = cfg.trainer.get("max_epochs")
    require(epochs is None or epochs >= 1, f"trainer.max_epochs={epochs} must be >= 1.")
    require(cfg.monitor_mode in ("min", "max"), f"monitor_mode={cfg.monitor_mode!r} must be 'min' or 'max'.")
    require(
        cfg.train or cfg.ckpt_path,
        "train=false evaluates a checkpoint, but ckpt_path is not set; add ckpt_path=<run dir>/checkpoints/best.ckpt.",
    )
