"""The plots of a sweep with seeds: each setting once, as its mean over seeds with bands.

`validation_curves` draws, per setting, the mean of each epoch's value over the setting's seeds,
a band of plus or minus one standard deviation (n - 1) and a lighter band from the minimum to
the maximum, both clipped to what the metric can be (an accuracy in [0, 1], a loss >= 0); where
a seed stops early (early stopping, a criterion) the mean goes on over fewer seeds, so an x marks
each seed's last epoch; `final_metric` draws the mean with a plus-or-minus-one-standard-deviation bar and each
seed's own value as a dot, so a difference between settings can be read against their spread.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from matplotlib.axes import Axes

from dlbench.terminal.wording import plural

if TYPE_CHECKING:
    from dlbench.reporting.seeds import Setting


def _per_epoch(setting: Setting, metric: str) -> tuple[list[float], list[list[float]]]:
    values: dict[float, list[float]] = {}
    for job in setting.jobs:
        for index, row in enumerate(job.history):
            value = row.get(metric)
            if value is not None and math.isfinite(value):
                values.setdefault(row.get("epoch", index), []).append(value)
    epochs = sorted(values)
    return epochs, [values[epoch] for epoch in epochs]


BOUNDED = ("acc", "accuracy", "f1", "precision", "recall", "auroc", "dice", "iou", "within")
NON_NEGATIVE = ("loss", "mse", "mae", "rmse", "nll", "error")


def metric_range(metric: str) -> tuple[float, float]:
    """What values `metric` can take, from its name: fractions in [0, 1], losses and errors >= 0."""
    name = metric.rsplit("/", 1)[-1].lower()
    if name in BOUNDED or name.endswith(("_acc", "accuracy")):
        return 0.0, 1.0
    if name in NON_NEGATIVE or name.endswith(("loss", "_error")):
        return 0.0, math.inf
    return -math.inf, math.inf


def _clip(values: list[float], low: float, high: float) -> list[float]:
    return [min(max(value, low), high) for value in values]


def _last_epochs(setting: Setting, metric: str) -> list[tuple[float, float]]:
    """(epoch, value) of each seed's last row with `metric`, for the seeds that end before the others."""
    ends = []
    for job in setting.jobs:
        rows = [(row.get("epoch", index), row[metric]) for index, row in enumerate(job.history) if metric in row]
        rows = [(epoch, value) for epoch, value in rows if value is not None and math.isfinite(value)]
        if rows:
            ends.append(rows[-1])
    last = max((epoch for epoch, _ in ends), default=None)
    return [(epoch, value) for epoch, value in ends if epoch != last]


def draw_setting_curves(axis: Axes, settings: list[Setting], metric: str, marker: str | None) -> None:
    """Each setting's mean curve of `metric` over its seeds, with std and min-max bands (clipped
    to `metric_range`) and an x where a seed ends before the others."""
    low, high = metric_range(metric)
    marked = False
    for setting in settings:
        epochs, values = _per_epoch(setting, metric)
        if not epochs:
            continue
        mean = [statistics.fmean(column) for column in values]
        std = [statistics.stdev(column) if len(column) > 1 else 0.0 for column in values]
        (line,) = axis.plot(epochs, mean, marker=marker, label=f"{setting.label} ({plural(len(setting.jobs), 'seed')})")
        color = line.get_color()
        axis.fill_between(
            epochs,
            _clip([m - s for m, s in zip(mean, std, strict=True)], low, high),
            _clip([m + s for m, s in zip(mean, std, strict=True)], low, high),
            color=color,
            alpha=0.25,
            linewidth=0,
        )
        axis.fill_between(
            epochs,
            [min(column) for column in values],
            [max(column) for column in values],
            color=color,
            alpha=0.1,
            linewidth=0,
        )
        ends = _last_epochs(setting, metric)
        if ends:
            axis.scatter(
                [epoch for epoch, _ in ends],
                [value for _, value in ends],
                marker="x",
                color=color,
                zorder=3,
                label=None if marked else "a seed's last epoch (the mean goes on without it)",
            )
            marked = True


def draw_setting_points(
    axis: Axes, settings: list[Setting], key: str, values_of: list[list[float]], numeric: bool
) -> list[float]:
    """Mean +- std bars and every seed's value for each setting, against the setting's value of
    `key`; returns the x positions used."""
    from dlbench.reporting.seeds import Spread

    positions: list[float] = []
    for index, (setting, values) in enumerate(zip(settings, values_of, strict=True)):
        raw = setting.values.get(key, "")
        x = float(raw) if numeric else float(index)
        positions.append(x)
        spread = Spread.of(values)
        finite = [value for value in values if math.isfinite(value)]
        axis.scatter([x] * len(finite), finite, s=12, color="grey", alpha=0.6, zorder=2)
        if spread.n:
            axis.errorbar(
                [x], [spread.mean], yerr=[[spread.std], [spread.std]], fmt="o", color="C0", capsize=4, zorder=3
            )
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    means = [Spread.of(values_of[i]).mean for i in order]
    axis.plot([positions[i] for i in order], means, color="C0", alpha=0.6)
    if not numeric:
        axis.set_xticks(positions, [setting.values.get(key, "") for setting in settings], rotation=30)
    return positions
