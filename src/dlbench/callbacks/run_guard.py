"""Lightning callbacks of our own: only what Lightning's callbacks do not already do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class RunGuard(pl.Callback):
    """Keeps a run recoverable.

    - Stores the resolved config inside every checkpoint, so `train=false ckpt_path=...` rebuilds
      the same model and data without the original command line.
    - On Ctrl-C or SIGTERM writes `last.ckpt`, which `ckpt_path=` resumes from. (Lightning's own
      `save_on_exception` would overwrite the best checkpoint, and fire on divergence too.)
    """

    def __init__(self, config: dict[str, Any], checkpoint_dir: str | Path) -> None:
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["dlbench_config"] = self.config

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SystemExit)) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.checkpoint_dir / "last.ckpt")
