"""TensorBoard for every run: scalars per epoch, the run's pictures, and the HParams tab.

Lightning's `TensorBoardLogger` writes the event file; this subclass makes it read like the rest
of dlbench:

- one point per epoch: the epoch is the step of every scalar (the test metrics too, at the last
  epoch), so TensorBoard's x-axis is the same as metrics.csv's rows and W&B's steps;
- the run's PNG pictures (curves, filters, decision surface, the lr finder) as images, at the
  epoch they show;
- at the end, the flat resolved config as hyperparameters together with the final metrics
  (`final/test/acc`, `best/val/loss`, ...), which is what the HParams tab compares: point
  `tensorboard --logdir` at a sweep directory and every job is a row there.

The events go to `<run dir>/tensorboard/`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only

from dlbench.loggers.protocol import flatten
from dlbench.records.summary import Summary


def hparam_value(value: Any) -> int | float | str | bool | None:
    """TensorBoard's HParams take numbers, strings and booleans; lists and None are shown as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def final_metrics(summary: Summary) -> dict[str, float]:
    """The numbers the HParams tab compares: last value of each split's metrics, the best monitored value."""
    metrics: dict[str, float] = {}
    for split in ("train", "val", "test"):
        for name, value in getattr(summary.metrics, split).items():
            metrics[f"final/{split}/{name}"] = float(value)
    if summary.best:
        metrics[f"best/{summary.best.metric}"] = summary.best.value
    metrics["final/epochs_run"] = float(summary.epochs_run)
    return metrics


def read_png(path: Path) -> Any:
    """A PNG as an H x W x 3 uint8 array (alpha dropped), the layout `add_image` is told."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class DlbenchTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger with per-epoch steps, pictures and end-of-run hyperparameters."""

    def __init__(
        self, save_dir: str = ".", name: str = "tensorboard", log_pictures: bool = True, **kwargs: Any
    ) -> None:
        kwargs.setdefault("version", "")
        kwargs.setdefault("default_hp_metric", False)  # the real final metrics are written at the end
        super().__init__(save_dir=save_dir, name=name, **kwargs)
        self.log_pictures = log_pictures
        self._config: dict[str, Any] = {}
        self._last_epoch = 0
        self._logged_pictures: set[str] = set()

    # -- Lightning's interface ----------------------------------------------------------------
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """The epoch is the step: a task row carries `epoch`; Lightning's test results carry it too."""
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        if epoch is not None:
            step = int(epoch)
            self._last_epoch = max(self._last_epoch, step)
        super().log_metrics(metrics, step)

    @rank_zero_only
    def log_hyperparams(self, params: Any, metrics: Any = None) -> None:
        """Lightning's call at the start of fit is left out: the hyperparameters are written once,
        at the end, with the final metrics (TensorBoard's HParams tab shows only one set per run)."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Flush only: the run goes on after `fit` (test, pictures, hyperparameters); `finish_run` closes."""
        if self._experiment is not None:
            self.experiment.flush()

    # -- dlbench's logger protocol ------------------------------------------------------------
    def start(self, config: Mapping[str, Any]) -> None:
        self._config = {key: hparam_value(value) for key, value in flatten(config).items()}
        # hparams.yaml (written by `save`, once): the config, as CSV's and every other logger's has it
        self.hparams.update({key: value for key, value in config.items() if key != "hydra"})

    @rank_zero_only
    def log_picture(self, key: str, path: Path, step: int | None = None) -> None:
        if not self.log_pictures:
            return
        self.experiment.add_image(key, read_png(path), global_step=step or 0, dataformats="HWC")
        self._logged_pictures.add(str(Path(path).resolve()))

    @rank_zero_only
    def finish_run(self, summary: Summary, pictures: Sequence[Path] = ()) -> None:
        from torch.utils.tensorboard.summary import hparams

        step = max(summary.epochs_run - 1, self._last_epoch, 0)
        for path in pictures:
            if str(Path(path).resolve()) not in self._logged_pictures:
                relative = Path(path).relative_to(summary.run_dir) if summary.run_dir else Path(path)
                self.log_picture(str(relative.with_suffix("")), Path(path), step)
        metrics = final_metrics(summary)
        params = {key: value for key, value in self._config.items() if value is not None}
        params["status"] = summary.status
        writer = self.experiment._get_file_writer()
        for summary_proto in hparams(params, metrics):
            writer.add_summary(summary_proto)
        for key, value in metrics.items():  # the HParams tab reads each metric's scalar of this run
            self.experiment.add_scalar(key, value, global_step=step)
        self.save()
        self.experiment.flush()
        self.experiment.close()

    def record(self) -> dict[str, Any]:
        return {"tensorboard": {"log_dir": str(Path(self.log_dir).resolve())}}
