"""PNG plots of a sweep, chosen for what was swept.

Every sweep gets the validation curves of all jobs overlaid and the final metric against each
swept value; a batch-size sweep adds time per epoch and throughput; an early-stopping sweep adds
the curves with the stop epoch marked and the gap between train and validation loss.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: works on a cluster node or in CI without a display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from dlbench.reporting.comparison import Job
    from dlbench.reporting.seeds import Setting


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")  # a legend beside the axes is kept
    plt.close(figure)
    return path


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")


def _monitor(jobs: list[Job]) -> str:
    for job in jobs:
        metric = job.summary.best.metric if job.summary.best else job.summary.config.get("monitor")
        if metric:
            return metric
    return "val/loss"


def _series(job: Job, metric: str) -> tuple[list[float], list[float]]:
    rows = [row for row in job.history if metric in row]
    return [row.get("epoch", index) for index, row in enumerate(rows)], [row[metric] for row in rows]


def _finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def validation_curves(sweep_dir: Path, jobs: list[Job], keys: list[str], settings: list[Setting] | None = None) -> Path:
    """Every job's validation metrics per epoch, overlaid: the first thing to look at. With seeds,
    every setting once: its mean over seeds with bands (`dlbench.reporting.seed_plots`)."""
    names = sorted({name for job in jobs for row in job.history for name in row if name.startswith("val/")}) or [
        _monitor(jobs)
    ]
    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    marker = "." if max(len(job.history) for job in jobs) < 30 else None
    for axis, name in zip(axes[0], names, strict=False):
        if settings is not None:
            from dlbench.reporting.seed_plots import draw_setting_curves

            draw_setting_curves(axis, settings, name, marker)
        for job in jobs if settings is None else []:
            epochs, values = _series(job, name)
            if epochs:
                suffix = "" if job.status == "completed" else f" ({job.status})"
                axis.plot(epochs, values, marker=marker, label=job.label(keys) + suffix)
        axis.set_xlabel("epoch")
        axis.set_ylabel(name)
        axis.set_title(f"{name} per epoch")
        if name.endswith("loss") and all(v > 0 for job in jobs for v in _series(job, name)[1] if _finite(v)):
            values = [v for job in jobs for v in _series(job, name)[1] if _finite(v)]
            if values and max(values) / min(values) > 100:
                axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 0.2
    # beside the last panel, not over the curves (a sweep of eight rates covers half a panel)
    axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return _save(figure, sweep_dir / "val_curves.png")


def _numeric(values: list[str]) -> list[float] | None:
    try:
        return [float(value) for value in values]
    except ValueError:
        return None


def _wants_log_axis(key: str, values: list[float]) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    if leaf in ("lr", "learning_rate", "weight_decay") or leaf.endswith("_lr"):
        return all(value > 0 for value in values)
    positive = [value for value in values if value > 0]
    return len(positive) == len(values) and len(values) > 1 and max(values) / min(values) >= 100


def final_metric(sweep_dir: Path, jobs: list[Job], key: str, settings: list[Setting] | None = None) -> Path:
    """The best monitored value (and the test metrics) against the swept value of `key`; with
    seeds, each setting's mean +- std and every seed's value."""
    monitor = _monitor(jobs)
    test_names = sorted({name for job in jobs for name in job.summary.metrics.test})
    panels = [monitor] + [f"test/{name}" for name in test_names]
    raw = [job.overrides.get(key, "") for job in jobs]
    numbers = _numeric(raw)
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=False):
        if panel == monitor:
            ys = [job.summary.best.value if job.summary.best else math.nan for job in jobs]
            title = f"best {monitor}"
        else:
            ys = [job.summary.metrics.test.get(panel.split("/", 1)[1], math.nan) for job in jobs]
            title = panel
        if settings is not None:
            from dlbench.reporting.seed_plots import draw_setting_points
            from dlbench.reporting.seeds import best_values, metric_values

            values = [best_values(s) if panel == monitor else metric_values(s, panel) for s in settings]
            setting_numbers = _numeric([s.values.get(key, "") for s in settings])
            draw_setting_points(axis, settings, key, values, setting_numbers is not None)
            if setting_numbers is not None and _wants_log_axis(key, setting_numbers):
                axis.set_xscale("log")
        elif numbers is not None:
            order = sorted(range(len(jobs)), key=lambda index: numbers[index])
            axis.plot([numbers[i] for i in order], [ys[i] for i in order], marker="o")
            if _wants_log_axis(key, numbers):
                axis.set_xscale("log")
        else:
            axis.bar(range(len(jobs)), [y if _finite(y) else 0.0 for y in ys], tick_label=raw)
            axis.tick_params(axis="x", rotation=30)
        for index, job in enumerate(jobs if settings is None else []):
            if job.status != "completed":
                x = numbers[index] if numbers is not None else index
                axis.annotate(
                    job.status,
                    (x, ys[index] if _finite(ys[index]) else axis.get_ylim()[0]),
                    fontsize="small",
                    color="red",
                )
        axis.set_xlabel(key)
        axis.set_ylabel(title)
        axis.set_title(f"{title} vs {key}")
        axis.grid(alpha=0.3)
    return _save(figure, sweep_dir / f"final_vs_{_slug(key)}.png")


def batch_size_timing(sweep_dir: Path, jobs: list[Job]) -> Path:
    """Time per epoch and samples per second against the effective batch size ('full' included)."""
    points = sorted(
        (
            float(job.summary.effective_batch_size),
            job.summary.time_per_epoch_s or math.nan,
            job.summary.samples_per_s or math.nan,
        )
        for job in jobs
        if job.summary.effective_batch_size
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [point[0] for point in points]
    left.plot(sizes, [point[1] for point in points], marker="o")
    left.set_ylabel("time per epoch (s)")
    left.set_title("time per epoch vs batch size")
    right.plot(sizes, [point[2] for point in points], marker="o")
    right.set_ylabel("training samples per second")
    right.set_title("throughput vs batch size")
    for axis in (left, right):
        axis.set_xlabel("effective batch size")
        if sizes and min(sizes) > 0:
            axis.set_xscale("log", base=2)
        axis.grid(alpha=0.3)
    return _save(figure, sweep_dir / "batch_size_timing.png")


def early_stopping_curves(sweep_dir: Path, jobs: list[Job], keys: list[str]) -> list[Path]:
    """Train and validation loss of each job with the stop and best epochs marked; and their gap."""
    columns = min(3, len(jobs))
    rows = -(-len(jobs) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.8 * rows), squeeze=False)
    for axis in axes.flat[len(jobs) :]:
        axis.set_visible(False)
    for axis, job in zip(axes.flat, jobs, strict=False):
        for metric, style in (("train/loss", "--"), ("val/loss", "-")):
            epochs, values = _series(job, metric)
            axis.plot(epochs, values, style, label=metric)
        epochs, _ = _series(job, "val/loss")
        if epochs:
            axis.axvline(epochs[-1], color="red", alpha=0.6, label=f"stopped (epoch {int(epochs[-1])})")
        best = job.summary.best.epoch if job.summary.best else None
        if best is not None:
            axis.axvline(best, color="green", linestyle=":", label=f"best (epoch {best})")
        axis.set_title(job.label(keys), fontsize="small")
        axis.set_xlabel("epoch")
        axis.set_ylabel("loss")
        axis.legend(fontsize="x-small")
        axis.grid(alpha=0.3)
    curves = _save(figure, sweep_dir / "early_stopping_curves.png")

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for job in jobs:
        rows_with_both = [row for row in job.history if "train/loss" in row and "val/loss" in row]
        axis.plot(
            [row["epoch"] for row in rows_with_both],
            [row["val/loss"] - row["train/loss"] for row in rows_with_both],
            label=job.label(keys),
        )
    axis.axhline(0.0, color="black", linewidth=0.8)
    axis.set_xlabel("epoch")
    axis.set_ylabel("val/loss - train/loss")
    axis.set_title("generalisation gap")
    axis.legend(fontsize="small")
    axis.grid(alpha=0.3)
    return [curves, _save(figure, sweep_dir / "generalization_gap.png")]


def _is_early_stopping_sweep(jobs: list[Job], keys: list[str]) -> bool:
    if any("early_stopping" in key or "patience" in key for key in keys):
        return True
    if any(
        "early_stopping" in value
        for key in keys
        if key == "regularizer"
        for value in (job.overrides.get(key, "") for job in jobs)
    ):
        return True
    return any((job.summary.stop_reason or "").startswith("early stopping") for job in jobs)


def write_plots(sweep_dir: Path, jobs: list[Job], keys: list[str], settings: list[Setting] | None = None) -> list[Path]:
    """All plots that fit this sweep; returns the files written. `settings`: the sweep's settings
    when it ran them with several seeds (`dlbench.reporting.seeds`)."""
    written = [validation_curves(sweep_dir, jobs, keys, settings)]
    written += [final_metric(sweep_dir, jobs, key, settings) for key in keys]
    if any(key.rsplit(".", 1)[-1] == "batch_size" for key in keys):
        written.append(batch_size_timing(sweep_dir, jobs))
    if _is_early_stopping_sweep(jobs, keys):
        written += early_stopping_curves(sweep_dir, jobs, keys)
    return written
