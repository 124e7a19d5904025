"""The plots of a sweep with seeds: each setting once, as its mean over seeds with bands.

`validation_curves` draws, per setting, the mean of each epoch's value over the setting's seeds,
a band of plus or minus one standard deviation (n - 1) and a lighter band from the minimum to
the maximum; `final_metric` draws the mean with a plus-or-minus-one-standard-deviation bar and each
seed's own value as a dot, so a difference between settings can be read against their spread.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from matplotlib.axes import Axes

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


def draw_setting_curves(axis: Axes, settings: list[Setting], metric: str, marker: str | None) -> None:
    """Each setting's mean curve of `metric` over its seeds, with std and min-max bands."""
    for setting in settings:
        epochs, values = _per_epoch(setting, metric)
        if not epochs:
            continue
        mean = [statistics.fmean(column) for column in values]
        std = [statistics.stdev(column) if len(column) > 1 else 0.0 for column in values]
        (line,) = axis.plot(epochs, mean, marker=marker, label=f"{setting.label} ({len(setting.jobs)} seeds)")
        color = line.get_color()
        axis.fill_between(
            epochs,
            [m - s for m, s in zip(mean, std, strict=True)],
            [m + s for m, s in zip(mean, std, strict=True)],
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
