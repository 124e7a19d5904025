"""Tables bundled with scikit-learn (no network): iris, wine, breast_cancer.

Features are standardised to zero mean and unit variance with statistics of the training split.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from sklearn import datasets

from dlbench.data.module import InMemoryDataModule, Pair


class SklearnTable(InMemoryDataModule):
    """A classification table from `sklearn.datasets.load_*`."""

    loader: Callable = staticmethod(datasets.load_iris)

    def load(self) -> dict[str, Pair]:
        bunch = self.loader()
        inputs = torch.as_tensor(bunch.data, dtype=torch.float32)
        targets = torch.as_tensor(bunch.target, dtype=torch.long)
        if self.kind == "binary":
            targets = targets.float().unsqueeze(1)
        return {"train": (inputs, targets)}


class Iris(SklearnTable):
    """Fisher's iris flowers: 150 x 4 features, 3 species."""

    name = "iris"
    loader = staticmethod(datasets.load_iris)


class Wine(SklearnTable):
    """Wines from three cultivars: 178 x 13 chemical measurements."""

    name = "wine"
    loader = staticmethod(datasets.load_wine)


class BreastCancer(SklearnTable):
    """Wisconsin breast-cancer biopsies: 569 x 30 features, malignant or benign (one output)."""

    name = "breast_cancer"
    kind = "binary"
    loader = staticmethod(datasets.load_breast_cancer)
