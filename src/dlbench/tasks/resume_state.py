"""The task's own part of a checkpoint: what an epoch in progress and the run so far have gathered.

Lightning restores weights, optimizer and counters; the task also holds, at any step, the rows of
the epochs done (`history`, the run's record) and the sums of the epoch under way (its training
loss and accuracy so far, the validation row once validation ran, the rate it trains at). A
checkpoint taken inside an epoch, or after an epoch's validation but before its end, resumes
into the middle of that epoch: with these the resumed epoch's row is the one the run that was
never stopped wrote, and the resumed run's history is the whole run's, not its second half.

The rows are never changed after they are written, so a checkpoint holds a new list of the same
row objects (`BufferedCheckpoint` keeps that list by reference instead of copying every row of
a 2,000-epoch history each epoch).
"""

from __future__ import annotations

import time
from typing import Any

KEY = "dlbench_task"
HISTORY = f"{KEY}.history"  # the entry `BufferedCheckpoint` holds by reference


def task_state(task: Any) -> dict[str, Any]:
    """The task's resumable state, as plain values and tensors (weights-only loadable)."""
    started = getattr(task, "_epoch_start", 0.0)
    return {
        "history": list(task.history),
        "epoch_lr": getattr(task, "_epoch_lr", None),
        "epoch_elapsed_s": time.perf_counter() - started if started else 0.0,
        "train_totals": task.metrics["train_metrics"].totals,
        "val_row": dict(task._val_row),
        "epoch_extras": dict(task.epoch_extras),
    }


def restore_task_state(task: Any, state: dict[str, Any] | None) -> None:
    """Put `task_state`'s values back (nothing for a checkpoint written before they were saved)."""
    if not state:
        return
    task.history = [dict(row) for row in state.get("history", [])]
    if state.get("epoch_lr") is not None:
        task._epoch_lr = float(state["epoch_lr"])
    task._epoch_start = time.perf_counter() - float(state.get("epoch_elapsed_s", 0.0))
    task._val_row = dict(state.get("val_row") or {})
    task.epoch_extras = dict(state.get("epoch_extras") or {})
    totals = state.get("train_totals")
    metric = task.metrics["train_metrics"]
    if totals is not None and tuple(totals.shape) == tuple(metric.totals.shape):
        metric.restore(totals)
