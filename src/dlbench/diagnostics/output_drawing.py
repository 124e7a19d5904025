"""Pictures of what an output unit predicts: a 1-D regression fit over its data, and segmentations.

`regression_fits` draws one or several models over the same (x, y) points: a point prediction
as a line (MSE), a Gaussian as its mean and a +-2 sigma band, a mixture density network as its
conditional density p(y | x) in grey with the component means drawn as dots as opaque as their
mixing weights. `segmentations` puts images, their true masks and the predicted masks in three
rows. Plain functions from tensors to a Figure, like `drawing.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import Tensor, nn

from dlbench.diagnostics.drawing import fixed_layout, new_figure
from dlbench.tasks.likelihoods import GaussianNLL, MixtureDensityNLL

# background, then one colour per class
CLASS_COLOURS = ListedColormap(["#111111", "#e41a1c", "#377eb8", "#4daf4a", "#ff7f00", "#984ea3", "#ffff33"])


def _draw_fit(
    axes, grid: Tensor, outputs: Tensor, loss_fn: nn.Module, y_range: tuple[float, float], colour: str, label: str
) -> None:
    x = grid.reshape(-1).numpy()
    if isinstance(loss_fn, MixtureDensityNLL):
        ys = torch.linspace(*y_range, 200)
        log_pi, mu, log_sigma = loss_fn.parameters_of(outputs)
        z = (ys.reshape(-1, 1, 1) - mu[..., 0].unsqueeze(0)) / log_sigma.exp().unsqueeze(0)  # (Y, X, K)
        log_density = torch.logsumexp(log_pi.unsqueeze(0) - 0.5 * z.pow(2) - log_sigma.unsqueeze(0), -1)
        axes.imshow(
            log_density.exp().numpy(),
            origin="lower",
            aspect="auto",
            cmap="Greys",
            alpha=0.6,
            extent=(x.min(), x.max(), *y_range),
        )
        weights = log_pi.exp()
        for k in range(mu.shape[1]):
            colours = np.zeros((len(x), 4))
            colours[:, :3] = (0.85, 0.1, 0.1)
            colours[:, 3] = weights[:, k].clamp(0, 1).numpy()
            axes.scatter(x, mu[:, k, 0].numpy(), s=4, c=colours, label=f"{label}: component means" if k == 0 else None)
        return
    if isinstance(loss_fn, GaussianNLL):
        mean, variance = loss_fn.mean_and_variance(outputs)
        mean, std = mean.reshape(-1).numpy(), variance.sqrt().reshape(-1).numpy()
        axes.fill_between(x, mean - 2 * std, mean + 2 * std, color=colour, alpha=0.2, label=f"{label}: mean +- 2 sigma")
        axes.plot(x, mean, color=colour, lw=2, label=f"{label}: mean")
        return
    predict = getattr(loss_fn, "predict", None)
    values = predict(outputs) if predict is not None else outputs
    axes.plot(x, values.reshape(-1).numpy(), color=colour, lw=2, label=label)


def regression_fits(
    x: Tensor,
    y: Tensor,
    models: Sequence[tuple[str, Callable[[Tensor], Tensor], nn.Module]],
    title: str,
    truth: Callable[[np.ndarray], Sequence[np.ndarray]] | None = None,
) -> Figure:
    """Data points and each (label, network, loss module) model's prediction over the x range, one
    panel per model. `truth(x_grid)` may give curves to draw dashed (the noise-free relation)."""
    figure = new_figure((max(400 * len(models) + 100, 700), 450))  # room for the title with one panel
    x_flat, y_flat = x.reshape(-1), y.reshape(-1)
    grid = torch.linspace(float(x_flat.min()), float(x_flat.max()), 300).reshape(-1, 1)
    pad = 0.1 * float(y_flat.max() - y_flat.min())
    y_range = (float(y_flat.min()) - pad, float(y_flat.max()) + pad)
    colours = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd"]
    for index, (label, network, loss_fn) in enumerate(models):
        axes = figure.add_subplot(1, len(models), index + 1)
        axes.scatter(x_flat.numpy(), y_flat.numpy(), s=3, color="#999999", alpha=0.5, label="data")
        with torch.no_grad():
            outputs = network(grid)
        _draw_fit(axes, grid, outputs, loss_fn, y_range, colours[index % len(colours)], label)
        if truth is not None:
            for curve_x, curve_y in truth(grid.reshape(-1).numpy()):
                axes.plot(curve_x, curve_y, "k--", lw=1)
        axes.set_ylim(*y_range)
        axes.set_xlabel("x")
        axes.set_ylabel("y")
        axes.set_title(label)
        axes.legend(loc="upper left", fontsize=7, markerscale=3)
    figure.suptitle(title)
    fixed_layout(figure)
    return figure


def segmentations(images: Tensor, truth: Tensor, predicted: Tensor, classes: int, title: str) -> Figure:
    """Three rows: the images, their true masks, the predicted masks (same colours per class)."""
    count = images.shape[0]
    figure = new_figure((max(120 * count, 500), 420))
    rows = (
        ("image", images[:, 0], "gray", None),
        ("true mask", truth, CLASS_COLOURS, classes),
        ("predicted", predicted, CLASS_COLOURS, classes),
    )
    for row, (name, pictures, colours, top) in enumerate(rows):
        for column in range(count):
            axes = figure.add_subplot(3, count, row * count + column + 1)
            picture = pictures[column].reshape(pictures.shape[-2:]).float().numpy()
            if top is None:
                axes.imshow(picture, cmap=colours)
            else:
                axes.imshow(picture, cmap=colours, vmin=0, vmax=len(colours.colors) - 1, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if column == 0:
                axes.set_ylabel(name)
    figure.suptitle(title)
    figure.subplots_adjust(left=0.05, right=0.98, bottom=0.02, top=0.88, wspace=0.05, hspace=0.08)
    return figure
