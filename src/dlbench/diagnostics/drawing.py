"""The pictures themselves: plain functions from tensors to a matplotlib Figure.

No pyplot, so no global state and no GUI backend: each picture is its own `Figure` on the Agg
canvas, of a fixed size in pixels (`SIZE`), saved with `save`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import Tensor

DPI = 100
SIZE = (800, 600)  # pixels of every picture, width x height


def new_figure(size: tuple[int, int] = SIZE) -> Figure:
    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def fixed_layout(figure: Figure) -> None:
    """Margins that fit these pictures' titles and labels. `tight_layout` measures every text to
    find them: 0.1 s a figure, a third of drawing one, paid by every job of a sweep."""
    figure.subplots_adjust(left=0.08, right=0.97, bottom=0.1, top=0.86, wspace=0.3)


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` as a PNG of exactly SIZE pixels (no tight bounding box: sizes stay fixed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


BINARY_COLORS = ("#2166ac", "#b2182b")  # class 0, class 1: the blue and red ends of RdBu_r


def training_curves(history: Sequence[dict[str, float]], title: str = "") -> Figure:
    """Loss (and accuracy where measured) per epoch, training beside validation."""
    figure = new_figure()
    quantities = [q for q in ("loss", "acc") if any(f"train/{q}" in row or f"val/{q}" in row for row in history)]
    for panel, quantity in enumerate(quantities, start=1):
        axes = figure.add_subplot(1, len(quantities), panel)
        for split, style in (("train", "-"), ("val", "--")):
            points = [(row["epoch"], row[f"{split}/{quantity}"]) for row in history if f"{split}/{quantity}" in row]
            if points:
                epochs, values = zip(*points, strict=False)
                axes.plot(epochs, values, style, marker="o" if len(points) < 30 else None, label=split)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs: no tick at 0.2 in a short run
        axes.set_ylabel(quantity)
        axes.set_title({"loss": "loss", "acc": "accuracy"}[quantity])
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title or "training curves")
    fixed_layout(figure)
    return figure


def decision_surface(
    predict, points: Tensor, targets: Tensor, kind: str, num_outputs: int, resolution: int = 200, title: str = ""
) -> Figure:
    """What the model predicts at every point of the plane, with the training points on top.

    `predict(grid)` maps (n, 2) inputs to the model's outputs (n, k).
    """
    points, targets = points.float().cpu(), targets.cpu()
    low, high = points.min(0).values, points.max(0).values
    margin = 0.1 * (high - low).clamp_min(1e-3)
    low, high = low - margin, high + margin
    xs = torch.linspace(float(low[0]), float(high[0]), resolution)
    ys = torch.linspace(float(low[1]), float(high[1]), resolution)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    grid = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    outputs = predict(grid).float().cpu()
    figure = new_figure()
    axes = figure.add_subplot(1, 1, 1)
    if kind == "multiclass":
        colors = ListedColormap([f"C{i % 10}" for i in range(num_outputs)])
        surface = outputs.argmax(dim=1).reshape(resolution, resolution)
        axes.contourf(grid_x, grid_y, surface, levels=np.arange(num_outputs + 1) - 0.5, cmap=colors, alpha=0.35)
        axes.scatter(
            points[:, 0],
            points[:, 1],
            c=targets.reshape(-1),
            cmap=colors,
            vmin=-0.5,
            vmax=num_outputs - 0.5,
            edgecolors="k",
            s=18,
        )
    elif kind == "binary":
        surface = torch.sigmoid(outputs[:, 0]).reshape(resolution, resolution)
        filled = axes.contourf(grid_x, grid_y, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5)
        axes.contour(grid_x, grid_y, surface, levels=[0.5], colors="k", linewidths=1)
        figure.colorbar(filled, ax=axes, label="P(class 1)")
        # each class its own solid colour, the ends of the surface's map, white-edged so a point on a
        # strongly coloured region still reads (XOR's four points were dark dots on the boundary)
        labels = targets.reshape(-1) > 0.5
        for value, color in ((False, BINARY_COLORS[0]), (True, BINARY_COLORS[1])):
            chosen = points[labels == value]
            if len(chosen):
                axes.scatter(
                    chosen[:, 0],
                    chosen[:, 1],
                    color=color,
                    edgecolors="white",
                    linewidths=1.2,
                    s=60,
                    zorder=3,
                    label=f"class {int(value)}",
                )
        axes.legend(loc="upper right", fontsize="small", framealpha=0.8)
    else:
        surface = outputs[:, 0].reshape(resolution, resolution)
        filled = axes.contourf(grid_x, grid_y, surface, levels=20, cmap="viridis", alpha=0.6)
        figure.colorbar(filled, ax=axes, label="prediction")
        axes.scatter(
            points[:, 0], points[:, 1], c=targets.reshape(len(targets), -1)[:, 0], cmap="viridis", edgecolors="k", s=18
        )
    axes.set_xlim(float(low[0]), float(high[0]))
    axes.set_ylim(float(low[1]), float(high[1]))
    axes.set_xlabel("x1 (input 1, as the network sees it)")
    axes.set_ylabel("x2 (input 2, as the network sees it)")
    axes.set_title(title or "decision surface")
    return figure


def image_grid(images: Tensor, rows: int | None = None) -> np.ndarray:
    """(n, c, h, w) -> an (H, W, 3) array in [0, 1], each image scaled to its own range."""
    from torchvision.utils import make_grid

    images = images.detach().float().cpu()
    if images.shape[1] not in (1, 3):
        images = images[:, :1]
    per_row = math.ceil(math.sqrt(len(images))) if rows is None else math.ceil(len(images) / rows)
    grid = make_grid(images, nrow=per_row, padding=1, normalize=True, scale_each=True, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def filters(weight: Tensor, name: str) -> Figure:
    """First-layer filters, one tile each: edge and colour detectors once trained."""
    figure = new_figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(image_grid(weight), interpolation="nearest")
    axes.set_axis_off()
    shape = "x".join(map(str, weight.shape))
    note = "" if weight.shape[1] in (1, 3) else f", input channel 0 of {weight.shape[1]}"
    axes.set_title(f"first-layer filters of {name} ({shape}{note})")
    return figure


def activation_matrices(activations: dict[str, Tensor], max_units: int = 256) -> Figure:
    """Examples x hidden units for each layer: sparse codes look speckled, correlated ones striped."""
    figure = new_figure()
    names = list(activations)[:4]
    for panel, name in enumerate(names, start=1):
        values = activations[name].detach().float().cpu().reshape(len(activations[name]), -1)[:, :max_units]
        axes = figure.add_subplot(1, len(names), panel)
        image = axes.imshow(values.numpy(), aspect="auto", interpolation="nearest", cmap="magma")
        zero = float((values == 0).float().mean())
        axes.set_title(f"{name}\n{values.shape[1]} units, {zero:.0%} zero", fontsize=9)
        axes.set_xlabel("hidden unit")
        if panel == 1:
            axes.set_ylabel("example")
        figure.colorbar(image, ax=axes)
    figure.suptitle("hidden-unit activations over a batch")
    fixed_layout(figure)
    return figure


def reconstructions(inputs: Tensor, outputs: Tensor) -> Figure:
    """Inputs (top) beside the autoencoder's reconstructions (bottom)."""
    figure = new_figure()
    inputs, outputs = inputs.detach().float().cpu(), outputs.detach().float().cpu().reshape(inputs.shape)
    if inputs.dim() == 4:
        axes = figure.add_subplot(1, 1, 1)
        both = torch.cat([inputs, outputs])
        axes.imshow(image_grid(both, rows=2), interpolation="nearest")
        axes.set_axis_off()
        axes.set_title("inputs (top row) and reconstructions (bottom row)")
        return figure
    flat_in, flat_out = inputs.reshape(len(inputs), -1), outputs.reshape(len(outputs), -1)
    low, high = float(min(flat_in.min(), flat_out.min())), float(max(flat_in.max(), flat_out.max()))
    for panel, (values, title) in enumerate(((flat_in, "inputs"), (flat_out, "reconstructions")), start=1):
        axes = figure.add_subplot(1, 2, panel)
        axes.imshow(values.numpy(), aspect="auto", interpolation="nearest", cmap="viridis", vmin=low, vmax=high)
        axes.set_title(title)
        axes.set_xlabel("feature")
        axes.set_ylabel("example")
    fixed_layout(figure)
    return figure
