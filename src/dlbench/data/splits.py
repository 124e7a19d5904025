"""Train / validation / test splits: stratified for classes, fixed by the seed."""

from __future__ import annotations

import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from dlbench.errors import ConfigError, require


def _count(fraction_or_size: float, total: int) -> int:
    """Examples to split off: a count as it is, a fraction (the schema keeps it in (0, 1)) of `total`."""
    if fraction_or_size >= 1:
        return int(fraction_or_size)
    return max(1, round(fraction_or_size * total))


def split(
    inputs: Tensor,
    targets: Tensor,
    size: float,
    seed: int,
    stratify: bool,
    key: str,
    dataset: str,
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Split off `size` examples (a fraction or a count) as the second part.

    With `stratify`, each class keeps its share in both parts; a class left empty in either part
    is a configuration error, since its metrics would silently be meaningless.
    """
    total = len(inputs)
    count = _count(size, total)
    require(
        0 < count < total,
        f"dataset.{key}={size} leaves no examples on one side of the split of {total}; choose a smaller value.",
    )
    labels = targets.reshape(total, -1)[:, 0].numpy() if stratify else None
    if stratify:
        classes = torch.unique(torch.as_tensor(labels))
        require(
            count >= len(classes) and total - count >= len(classes),
            f"dataset.{key}={size} gives {count} of {total} examples of dataset {dataset}, too few for all "
            f"{len(classes)} classes; choose a value that leaves each class at least one example on both "
            "sides.",
        )
    try:
        keep, held = train_test_split(torch.arange(total).numpy(), test_size=count, random_state=seed, stratify=labels)
    except ValueError as error:  # e.g. a class with a single member
        raise ConfigError(
            f"dataset.{key}={size} cannot split dataset {dataset} with every class on both sides ({error}); "
            "choose another value or set dataset.stratify=false."
        ) from None
    keep, held = torch.as_tensor(keep), torch.as_tensor(held)
    return (inputs[keep], targets[keep]), (inputs[held], targets[held])
