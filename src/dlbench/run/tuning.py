"""Learning-rate and batch-size finders before training (Lightning's `Tuner`).

The learning-rate range test (Smith 2017) trains for `num_training` steps while the learning
rate grows exponentially from `min_lr` to `max_lr`, and suggests the rate where the loss falls
fastest. The batch-size finder doubles the batch until a step runs out of memory. Both restore
the model's weights afterwards; with `apply` the real run trains with the suggestions.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.tuner import Tuner
from pytorch_lightning.utilities import rank_zero_only

from dlbench.callbacks.progress import LineProgress
from dlbench.config.plan import RunPlan, Tuning
from dlbench.diagnostics import drawing
from dlbench.run.builders import build_network, build_task, build_trainer
from dlbench.runtime.lr_finder_progress import lr_finder_progress
from dlbench.terminal.watching import is_terminal

log = logging.getLogger(__name__)


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


def steepest_descent(results: Mapping[str, list[float]], skip_begin: int = 10, skip_end: int = 1) -> int | None:
    """The index of the rate where the loss falls fastest per decade of learning rate (None when
    fewer than two finite points are left).

    Lightning's `suggestion()` differentiates the loss against the learning rate itself although
    the rates are spaced exponentially, so a wiggle among the tiny rates outweighs the real descent
    (Lightning issue #21141; Iris got 1.4e-5). Same rule, against log10(lr).
    """
    losses = torch.tensor(results["loss"], dtype=torch.float64)
    rates = torch.tensor(results["lr"], dtype=torch.float64)
    window = torch.arange(len(losses))[skip_begin : len(losses) - skip_end]
    window = window[torch.isfinite(losses[window]) & (rates[window] > 0)]
    if len(window) < 2:
        return None
    slopes = torch.gradient(losses[window], spacing=[torch.log10(rates[window])])[0]
    return int(window[int(torch.argmin(slopes))])


def lr_plot(finder: Any, chosen: int | None, path: Path) -> Path:
    """Loss against learning rate (log scale), the suggestion marked in red."""
    figure = drawing.new_figure()
    axes = figure.add_subplot(1, 1, 1)
    finder.plot(suggest=False, ax=axes)
    if chosen is not None:
        suggestion = finder.results["lr"][chosen]
        axes.plot(suggestion, finder.results["loss"][chosen], marker="o", markersize=10, color="red")
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


def tune(plan: RunPlan, datamodule: Any) -> Tuning:
    """Run the finders `plan.tune` asks for on a trial copy of the run; the suggestions come back as
    a `Tuning`, from which the run's plan is resolved again (nothing of the run is changed here)."""
    options = plan.tune or {}
    model = build_network(plan, datamodule)
    task = build_task(plan, model, datamodule.spec)
    # The finders count optimizer steps; on a small dataset max_epochs would end them early.
    trainer = build_trainer(plan, record=False, max_epochs=-1)
    tuner = Tuner(trainer)
    report: dict[str, Any] = {}
    batch_size = _find_batch_size(options, tuner, task, datamodule, report) if options.get("batch_size") else None
    lr = _find_lr(plan, options, trainer, task, datamodule, report) if options.get("lr_find") else None
    return Tuning(lr=lr, batch_size=batch_size, report=report)


def _find_batch_size(options: Mapping[str, Any], tuner: Tuner, task: Any, datamodule: Any, report: dict) -> int | None:
    """The largest batch that fits (at most the training set), or None when it is not to be applied."""
    start = datamodule.batch_size
    if not isinstance(start, int):
        log.warning("Skipping the batch-size finder: dataset.batch_size=%r is not a number of examples.", start)
        return None
    found = tuner.scale_batch_size(
        task, datamodule=datamodule, mode=options["batch_size_mode"], max_trials=options["max_trials"], init_val=2
    )
    if found and found > datamodule.train_size:
        found = datamodule.train_size  # a batch larger than the training set is the whole training set
    applied = bool(options["apply"] and found)
    report["batch_size"] = {"suggestion": found, "initial": start, "applied": applied}
    datamodule.batch_size = found if applied else start  # the finder leaves its last trial behind
    print(f"tune=batch_size: largest batch that fits: {found} ({'applied' if applied else 'not applied'})")
    return int(found) if applied else None


def _find_lr(
    plan: RunPlan, options: Mapping[str, Any], trainer: Any, task: Any, datamodule: Any, report: dict
) -> float | None:
    """The suggested learning rate (with its plot), or None when there is none or it is not applied."""
    # one line per update in a log file, not one line of redraws
    with lr_finder_progress(trainer, LineProgress, is_terminal(sys.stderr)):
        finder = Tuner(trainer).lr_find(
            task,
            datamodule=datamodule,
            min_lr=options["min_lr"],
            max_lr=options["max_lr"],
            num_training=options["num_training"],
            update_attr=False,
        )
    if finder is not None:
        fix_smoothing(finder)
    chosen = steepest_descent(finder.results) if finder is not None else None
    suggestion = float(finder.results["lr"][chosen]) if chosen is not None else None
    applied = bool(options["apply"] and suggestion is not None)
    entry: dict[str, Any] = {
        "suggestion": suggestion,
        "min_lr": options["min_lr"],
        "max_lr": options["max_lr"],
        "applied": applied,
    }
    if finder is not None and rank_zero_only.rank == 0:
        entry["plot"] = str(lr_plot(finder, chosen, Path(plan.output_dir) / "lr_find.png"))
    report["lr_find"] = entry
    if suggestion is None:
        log.warning(
            "The learning-rate finder found no clear descent of the loss; training keeps optimizer.lr=%s.", plan.lr
        )
        print(f"tune=lr: no clear descent of the loss; training keeps lr={plan.lr}")
    else:
        plot = f" (plot: {entry['plot']})" if entry.get("plot") else ""
        kept = f"optimizer.lr={plan.lr}"
        what = f"training with it instead of {kept}" if applied else f"tune.apply=false: training keeps {kept}"
        print(f"Learning-rate finder: suggests lr={suggestion:.3g}{plot}; {what}.")
    return float(suggestion) if applied and suggestion is not None else None
