"""Lines Lightning prints on every run that tell a dlbench user nothing.

- "💡 Tip: For seamless cloud logging ... try installing litlogger": an advertisement, printed by
  every Trainer without a LitLogger (Lightning 2.6).
- "`.test(ckpt_path="best")` is called with Trainer configured with multiple `ModelCheckpoint`
  callbacks": `RecordingRunGuard` is a `Checkpoint` only so that Lightning calls it after the module's
  epoch end; it saves nothing, and the first checkpoint callback, the one Lightning takes, is
  the real one.
- "Checkpoint directory ... exists and is not empty", "Experiment logs directory ... exists and is
  not empty": the run directory is the run's own (it claimed it, `dlbench.records.claim`): its
  running summary, or, resumed there, its own earlier files.

("The dirpath has changed", printed when a run resumes from another directory's checkpoint, is
not hidden but gone: `BufferedCheckpoint.load_state_dict` carries the best checkpoint along.)
"""

from __future__ import annotations

import logging
import warnings


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


_FILTER = _DropTips()


def quiet_lightning() -> None:
    """Install the filters (idempotent)."""
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    warnings.filterwarnings(
        "ignore", message=r"`\.test\(ckpt_path=\"best\"\)` is called with Trainer configured with multiple"
    )
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
