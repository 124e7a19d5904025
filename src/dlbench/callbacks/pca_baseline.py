"""PCA's reconstruction error beside an autoencoder's: the baseline a linear autoencoder should match.

A linear autoencoder with a k-number code, trained on squared error, can do no better than the
projection on the first k principal components of its training data (Baldi & Hornik 1989), and
at its optimum spans the same subspace. So the honest yardstick for `model=autoencoder` is PCA
with `code_size` components, fitted on the same training split (the same standardised inputs
the network reads) and scored on the same validation and test examples with the same error:
the mean over examples and input values of the squared difference, as the task's `mse` loss.

`PCABaseline` computes it once, when training starts, and adds `val/pca_mse` to every epoch's row
(so `summary.json`'s `metrics.val` and the W&B charts have it) and logs `test/pca_mse` beside
`test/loss` when the test split is evaluated. Nothing is trained: the network is untouched.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor

from dlbench.errors import require


def pca_errors(train: Tensor, others: dict[str, Tensor], components: int) -> dict[str, float]:
    """Mean squared reconstruction error of each split in `others` by the first `components`
    principal components of `train` (centred on the training mean, as a linear autoencoder's biases allow)."""
    flat = train.flatten(1).double()
    mean = flat.mean(dim=0, keepdim=True)
    _, _, right = torch.linalg.svd(flat - mean, full_matrices=False)
    basis = right[:components].T  # (features, components)
    errors = {}
    for name, inputs in others.items():
        centred = inputs.flatten(1).double() - mean
        rebuilt = centred @ basis @ basis.T
        errors[name] = float((rebuilt - centred).square().mean())
    return errors


class PCABaseline(pl.Callback):
    """Adds PCA's reconstruction error (`val/pca_mse`, `test/pca_mse`) to an autoencoder's records.

    Args:
        components: principal components to keep; None takes the model's `code_size`.
    """

    def __init__(self, components: int | None = None) -> None:
        self.components = components
        self.errors: dict[str, float] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        network = getattr(pl_module, "model", pl_module)
        components = self.components or getattr(network, "code_size", None)
        splits = getattr(trainer.datamodule, "splits", None)
        require(
            components is not None and bool(splits),
            "callbacks.pca_baseline needs an autoencoder (model=autoencoder: its code_size is the number of "
            "components) on an in-memory dataset; set callbacks.pca_baseline.components=K or remove the callback.",
        )
        train = splits["train"][0]
        self.errors = pca_errors(train, {name: splits[name][0] for name in ("val", "test")}, int(components))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        extras: Any = getattr(pl_module, "epoch_extras", None)
        if isinstance(extras, dict) and "val" in self.errors:
            extras["val/pca_mse"] = self.errors["val"]  # the task writes it with its own row

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.errors:  # train=false: the baseline is fitted here, on the same splits
            self.on_fit_start(trainer, pl_module)
        for name, value in self.test_metrics().items():
            pl_module.log(name, value)

    def test_metrics(self) -> dict[str, float]:
        """What the test adds: PCA's error on the test split (a population's member: its own)."""
        return {"test/pca_mse": self.errors["test"]}
