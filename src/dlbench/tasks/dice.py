"""Overlap losses for pixel classification: the soft dice loss and the generalised Wasserstein dice.

Cross-entropy sums a cost per pixel, so on an image that is mostly background a network can
score well by calling everything background. The dice coefficient 2|P n G| / (|P| + |G|) of
each class is a ratio of overlap to size, so a small object counts as much as a large one.

Both losses here are computed over the whole batch (every pixel of every image in the sums), so
an image in which a class is absent contributes nothing to that class instead of a 0/0.
The network's outputs are logits `(N, C, H, W)`: one channel read through a sigmoid for binary
masks (targets `(N, 1, H, W)` of 0/1), C channels through a softmax for C classes (targets
`(N, H, W)` of class indices).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlbench.errors import require


def class_probabilities(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(probabilities, one-hot targets), both `(N, C, pixels)`; a single channel is the foreground
    probability of a binary mask."""
    flat = outputs.flatten(2)
    if outputs.shape[1] == 1:
        return torch.sigmoid(flat), targets.reshape(flat.shape).to(flat.dtype)
    one_hot = F.one_hot(targets.reshape(targets.shape[0], -1).long(), outputs.shape[1])
    return torch.softmax(flat, dim=1), one_hot.permute(0, 2, 1).to(flat.dtype)


class SoftDiceLoss(nn.Module):
    """1 - mean over classes of (2 sum p g + s) / (sum p + sum g + s) (Milletari et al. 2016's soft
    dice with plain sums in the denominator, as Sudre et al. 2017 and MONAI's `DiceLoss` write it).

    Binary (one output channel): the dice of the foreground. Multiclass: every class, background
    included, weighs the same. `smooth` s keeps a class absent from both prediction and target at
    dice 1 and the gradient finite.
    """

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.smooth = smooth

    def dice_per_class(self, outputs: Tensor, targets: Tensor) -> Tensor:
        probabilities, truth = class_probabilities(outputs, targets)
        overlap = (probabilities * truth).sum(dim=(0, 2))
        sizes = probabilities.sum(dim=(0, 2)) + truth.sum(dim=(0, 2))
        return (2 * overlap + self.smooth) / (sizes + self.smooth)

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return 1 - self.dice_per_class(outputs, targets).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}"


class WassersteinDiceLoss(nn.Module):
    """The generalised Wasserstein dice loss (Fidon et al. 2017) with a class-distance matrix M.

    At each pixel i with true class g_i, the Wasserstein distance between the predicted class
    probabilities p_i and the true class is W_i = sum_l p_il M[g_i, l]: the probability put on
    each wrong class, weighted by how far that class is from the right one. Class 0 is the
    background and every class is at distance 1 from it (the paper's convention), so 1 - W_i is
    a pixel's "true positive" credit. Over the batch:

        TP = sum over foreground pixels of (1 - W_i),   loss = 1 - (2 TP + s) / (2 TP + sum_i W_i + s)

    With M = 1 - identity every mistake costs the same; a smaller distance between two classes
    (a circle and a square are both shapes) makes confusing them cheaper than missing the object.
    """

    def __init__(self, distances: Sequence[Sequence[float]], smooth: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("distances", torch.as_tensor(distances, dtype=torch.float32), persistent=False)
        self.smooth = smooth

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        probabilities = torch.softmax(outputs.flatten(2), dim=1)  # (N, C, pixels)
        truth = targets.reshape(targets.shape[0], -1).long()  # (N, pixels)
        rows = self.distances.to(probabilities.dtype)[truth]  # (N, pixels, C): M[g_i, :]
        wasserstein = (rows * probabilities.transpose(1, 2)).sum(-1)  # (N, pixels)
        true_positive = ((1 - wasserstein) * (truth != 0)).sum()
        score = (2 * true_positive + self.smooth) / (2 * true_positive + wasserstein.sum() + self.smooth)
        return 1 - score

    def extra_repr(self) -> str:
        return f"classes={self.distances.shape[0]}, smooth={self.smooth}"


def check_class_distances(matrix: object, classes: int, key: str = "output.class_distances") -> list[list[float]]:
    """`matrix` as a list of rows, or one sentence saying why it is not a class-distance matrix the
    Wasserstein dice can use: C x C, a metric (zero diagonal, positive elsewhere, symmetric, the
    triangle inequality), distances in [0, 1] and 1 from the background class 0."""
    try:
        values = torch.as_tensor(matrix, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        values = None
    require(
        values is not None,
        f"{key}={matrix!r} is not a matrix of numbers; give a {classes} x {classes} matrix of distances between "
        "classes (row and column 0 the background).",
    )
    assert values is not None
    shape = "x".join(map(str, values.shape)) if values.dim() else "a scalar"
    require(
        values.dim() == 2 and tuple(values.shape) == (classes, classes),
        f"{key} is {shape}, but the data has {classes} classes; give a {classes} x {classes} matrix of distances "
        "between classes (row and column 0 the background).",
    )
    off = ~torch.eye(classes, dtype=torch.bool)
    require(
        bool(torch.isfinite(values).all()) and bool((values.diagonal() == 0).all()) and bool((values[off] > 0).all()),
        f"{key} is not a metric: it needs 0 on the diagonal and distances > 0 between different classes.",
    )
    require(bool(torch.allclose(values, values.T)), f"{key} is not a metric: it is not symmetric (M[i][j] != M[j][i]).")
    through = values.unsqueeze(2) + values.unsqueeze(0)  # [i, j, k] = M[i, j] + M[j, k]
    worst = (values - through.min(dim=1).values).max()
    require(
        float(worst) <= 1e-9,
        f"{key} is not a metric: a distance M[i][k] exceeds M[i][j] + M[j][k] (the triangle inequality).",
    )
    require(
        bool((values <= 1).all()) and bool((values[0, 1:] == 1).all()),
        f"{key} must have distances in [0, 1] with every class at distance 1 from the background (row 0), as in "
        "Fidon et al. 2017; divide the matrix by its largest value and set row and column 0 to 1.",
    )
    return values.tolist()
