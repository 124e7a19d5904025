"""Learning-rate and batch-size finders before training (Lightning's `Tuner`).

The learning-rate range test (Smith 2017) trains for `num_training` steps while the learning
rate grows exponentially from `min_lr` to `max_lr`, and suggests the rate where the loss falls
fastest. The batch-size finder doubles the batch until a step runs out of memory. Both restore
the model's weights afterwards; with `apply` the real run trains with the suggestions.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.tuner import Tuner
from torchmetrics import Metric

from dlbench.diagnostics import drawing
from dlbench.errors import require
from dlbench.runtime.lr_finder_progress import lr_finder_progress
from dlbench.training.optim import scale_learning_rate, scaled_lr

log = logging.getLogger(__name__)


def _forget_trial_steps(task: pl.LightningModule) -> None:
    """The finders run real training steps: drop their epoch rows and half-accumulated metrics."""
    history = getattr(task, "history", None)
    if isinstance(history, list):
        history.clear()
    for module in task.modules():
        if isinstance(module, Metric):
            module.reset()


def fix_smoothing(finder: Any, beta: float = 0.98) -> None:
    """Undo an off-by-one in Lightning's smoothed loss, in place.

    Lightning averages the losses exponentially (beta = 0.98) and divides the i-th (from 0) by
    1 - beta^(global_step + 1) to remove the average's pull towards its start at zero; but
    global_step has already counted the i-th step, so it divides by 1 - beta^(i + 2). The first
    point then shows half the real loss and the curve seems to rise with the first learning
    rates (Lightning issue #14167). Rescaled here to 1 - beta^(i + 1).
    """
    losses = finder.results.get("loss", [])
    finder.results["loss"] = [loss * (1 - beta ** (i + 2)) / (1 - beta ** (i + 1)) for i, loss in enumerate(losses)]


def suggest_lr(finder: Any, skip_begin: int = 10, skip_end: int = 1) -> float | None:
    """The rate where the loss falls fastest per decade of learning rate.

    Lightning's `suggestion()` differentiates the loss against the learning rate itself although
    the rates are spaced exponentially, so a wiggle among the tiny rates outweighs the real descent
    (Lightning issue #21141; Iris got 1.4e-5). Same rule, against log10(lr). The choice is stored
    on the finder so that its plot marks the same point.
    """
    losses = torch.tensor(finder.results["loss"], dtype=torch.float64)
    rates = torch.tensor(finder.results["lr"], dtype=torch.float64)
    window = torch.arange(len(losses))[skip_begin : len(losses) - skip_end]
    window = window[torch.isfinite(losses[window]) & (rates[window] > 0)]
    if len(window) < 2:
        finder._optimal_idx = None
        return None
    slopes = torch.gradient(losses[window], spacing=[torch.log10(rates[window])])[0]
    finder._optimal_idx = int(window[int(torch.argmin(slopes))])
    return float(rates[finder._optimal_idx])


def lr_plot(finder: Any, suggestion: float | None, path: Path) -> Path:
    """Loss against learning rate (log scale), the suggestion marked in red."""
    figure = drawing.new_figure()
    axes = figure.add_subplot(1, 1, 1)
    finder.plot(suggest=False, ax=axes)
    if suggestion is not None:
        axes.plot(suggestion, finder.results["loss"][finder._optimal_idx], marker="o", markersize=10, color="red")
        axes.axvline(suggestion, color="red", linestyle="--", linewidth=1)
        right_half = finder.results["lr"].index(suggestion) > len(finder.results["lr"]) / 2
        axes.annotate(
            f" suggested lr = {suggestion:.3g} ",
            xy=(suggestion, 0.95),
            xycoords=("data", "axes fraction"),
            color="red",
            ha="right" if right_half else "left",
        )
    axes.set_title("learning-rate finder: training loss while the learning rate grows")
    axes.grid(alpha=0.3, which="both")
    return drawing.save(figure, path)


def tune(
    cfg: DictConfig, trainer: pl.Trainer, task: pl.LightningModule, datamodule: pl.LightningDataModule
) -> dict[str, Any] | None:
    """Run the finders `cfg.tune` asks for; returns what goes into summary.json as "tuning"."""
    options = cfg.tune
    if not (options.lr_find or options.batch_size):
        return None
    require(
        0 < options.min_lr < options.max_lr,
        f"tune.min_lr={options.min_lr} and tune.max_lr={options.max_lr} must satisfy 0 < min_lr < max_lr; "
        "e.g. 1e-6 and 1.",
    )
    tuner = Tuner(trainer)
    results: dict[str, Any] = {}
    output_dir = Path(cfg.paths.output_dir)
    # The finders count optimizer steps; on a small dataset trainer.max_epochs would end them early.
    max_epochs = trainer.fit_loop.max_epochs
    trainer.fit_loop.max_epochs = -1
    try:
        _find(cfg, options, tuner, trainer, task, datamodule, output_dir, results)
    finally:
        trainer.fit_loop.max_epochs = max_epochs
    return results


def _find(
    cfg: DictConfig,
    options: DictConfig,
    tuner: Tuner,
    trainer: pl.Trainer,
    task: pl.LightningModule,
    datamodule: Any,
    output_dir: Path,
    results: dict[str, Any],
) -> None:

    if options.batch_size:
        start = getattr(datamodule, "batch_size", None)
        if not isinstance(start, int):
            log.warning("Skipping the batch-size finder: dataset.batch_size=%r is not a number of examples.", start)
        else:
            found = tuner.scale_batch_size(
                task, datamodule=datamodule, mode=options.batch_size_mode, max_trials=options.max_trials, init_val=2
            )
            _forget_trial_steps(task)
            size = getattr(datamodule, "train_size", None)
            if found and isinstance(size, int) and found > size:
                found = size  # a batch larger than the training set is the whole training set
                datamodule.batch_size = found
            results["batch_size"] = {"suggestion": found, "initial": start, "applied": bool(options.apply and found)}
            if not (options.apply and found):
                datamodule.batch_size = start  # the finder leaves its last value behind
            else:
                if "batch_size" in cfg.dataset:
                    cfg.dataset.batch_size = int(found)
                _rescale_lr(cfg, trainer, task, datamodule)

    if options.lr_find:
        with lr_finder_progress(trainer):  # one line per update in a log file, not one line of redraws
            finder = tuner.lr_find(
                task,
                datamodule=datamodule,
                min_lr=options.min_lr,
                max_lr=options.max_lr,
                num_training=options.num_training,
                update_attr=False,
            )
        _forget_trial_steps(task)
        if finder is not None:
            fix_smoothing(finder)
        suggestion = suggest_lr(finder) if finder is not None else None
        entry: dict[str, Any] = {
            "suggestion": suggestion,
            "min_lr": options.min_lr,
            "max_lr": options.max_lr,
            "applied": False,
        }
        if finder is not None and trainer.is_global_zero:
            entry["plot"] = str(lr_plot(finder, suggestion, output_dir / "lr_find.png"))
            _log_image(trainer, entry["plot"])
        factory = getattr(task, "optimizer_factory", None)
        if options.apply and suggestion is not None and isinstance(factory, functools.partial):
            task.optimizer_factory = functools.partial(factory, lr=suggestion)
            task.lr = float(suggestion)  # the rate summary.json reports
            if "lr" in cfg.optimizer:
                cfg.optimizer.lr = float(suggestion) * _lr_scale(cfg, trainer, datamodule)
            entry["applied"] = True
        elif suggestion is None:
            log.warning(
                "The learning-rate finder found no clear descent of the loss; training keeps optimizer.lr=%s.",
                cfg.optimizer.get("lr"),
            )
        results["lr_find"] = entry


def _lr_scale(cfg: DictConfig, trainer: pl.Trainer, datamodule: Any) -> float:
    """optimizer.lr / the rate trained with: reference_batch / batch when the rate scales with the
    batch, so that the config in summary.json trains with the suggested rate again."""
    rate = scaled_lr(cfg.optimizer, datamodule.effective_batch_size(trainer.world_size))
    return 1.0 if not rate else float(cfg.optimizer.lr) / rate


def _rescale_lr(cfg: DictConfig, trainer: pl.Trainer, task: pl.LightningModule, datamodule: Any) -> None:
    """A new batch size changes the rate when optimizer.scale_lr_with_batch is on."""
    if cfg.optimizer.get("scale_lr_with_batch", False):
        scale_learning_rate(task, cfg.optimizer, datamodule.effective_batch_size(trainer.world_size))


def _log_image(trainer: pl.Trainer, path: str) -> None:
    from dlbench.loggers.protocol import log_picture

    log_picture(trainer.loggers, "tuning/lr_find", path)
