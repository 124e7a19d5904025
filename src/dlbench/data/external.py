"""Your own LightningDataModule, as it is: its loaders, splits and transforms, with a spec for the model.

dlbench builds the model from the data's spec (input shape, number of outputs, kind of task), and
reports sizes and batch sizes in summary.json. A LightningDataModule of yours knows none of that
vocabulary, so `DataModuleData` wraps it: every Lightning hook goes to your module unchanged, and
the spec is read from the first training batch (integer targets: classes; floating ones:
regression), or given as `kind` and `num_outputs`. Splits, shuffling and seeding are your
module's own; for dlbench's splitting and seeding rules, hand it a Dataset instead (`streaming.py`).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from dlbench.data.spec import DataSpec, Kind
from dlbench.data.streaming import KINDS
from dlbench.errors import ConfigError, require


class DataModuleData(pl.LightningDataModule):
    """A user's LightningDataModule, with the spec, sizes and batch size dlbench reads."""

    def __init__(
        self,
        datamodule: pl.LightningDataModule,
        name: str | None = None,
        kind: str = "auto",
        num_outputs: int | None = None,
        sequence: bool = False,
    ) -> None:
        super().__init__()
        require(kind in KINDS, f"dataset.kind={kind!r} is not a kind of data; use one of {', '.join(KINDS)}.")
        if not isinstance(datamodule, pl.LightningDataModule):
            raise ConfigError(
                f"dataset.datamodule is a {type(datamodule).__name__}, not a LightningDataModule; for a "
                "torch Dataset use dataset=torch_dataset (see docs/bring-your-own.md)."
            )
        self.datamodule = datamodule
        self.name = name or type(datamodule).__name__.lower()
        self.kind, self.num_outputs, self.sequence = kind, num_outputs, sequence
        self.spec: DataSpec | None = None
        self._prepared = False

    # -- Lightning's hooks go to the user's module --------------------------------------------
    def prepare_data(self) -> None:
        if not self._prepared:
            self.datamodule.prepare_data()
            self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        self.datamodule.trainer = self.trainer
        if self.spec is None:  # dlbench asks before fit: the spec is needed to build the model
            self.prepare_data()
            self.datamodule.setup("fit")
            self.spec = self._read_spec()
        if stage not in (None, "fit"):
            self.datamodule.setup(stage)

    def train_dataloader(self) -> Any:
        return self.datamodule.train_dataloader()

    def val_dataloader(self) -> Any:
        return self.datamodule.val_dataloader()

    def test_dataloader(self) -> Any:
        return self.datamodule.test_dataloader()

    def teardown(self, stage: str) -> None:
        self.datamodule.teardown(stage)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return self.datamodule.transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.datamodule.on_after_batch_transfer(batch, dataloader_idx)

    # -- what dlbench reads -------------------------------------------------------------------
    def _read_spec(self) -> DataSpec:
        batch = next(iter(self.datamodule.train_dataloader()))
        if not (isinstance(batch, (list, tuple)) and len(batch) == 2):
            raise ConfigError(
                f"dataset.datamodule {type(self.datamodule).__name__} gives batches of {type(batch).__name__}; "
                "dlbench trains on (inputs, targets) pairs: return those from its dataset."
            )
        inputs, targets = (torch.as_tensor(part) for part in batch)
        guessed = "regression" if targets.is_floating_point() else "multiclass"
        kind: Kind = self.kind if self.kind != "auto" else guessed
        if self.num_outputs is not None:
            outputs = int(self.num_outputs)
        elif kind == "multiclass":
            outputs = self._classes()
        elif kind == "binary":
            outputs = 1
        else:
            outputs = int(targets[0].numel())
        return DataSpec(self.name, tuple(inputs.shape[1:]), outputs, kind, self.sequence, False)

    def _classes(self) -> int:
        """The module's `num_classes`, else its training set's `classes` or `targets`; never a guess from one batch."""
        found = getattr(self.datamodule, "num_classes", None)
        dataset = getattr(self.datamodule.train_dataloader(), "dataset", None)
        while found is None and dataset is not None:
            if getattr(dataset, "classes", None) is not None:
                found = len(dataset.classes)
            elif getattr(dataset, "targets", None) is not None:
                found = int(torch.as_tensor(dataset.targets).max()) + 1
            dataset = getattr(dataset, "dataset", None)  # a Subset: look at what it wraps
        if found is None:
            raise ConfigError(
                f"dataset.datamodule {type(self.datamodule).__name__} does not say how many classes it has; set "
                "dataset.num_outputs=<number of classes>, or give the module a num_classes attribute."
            )
        return int(found)

    @property
    def batch_size(self) -> Any:
        return getattr(self.datamodule, "batch_size", None)

    @batch_size.setter
    def batch_size(self, value: Any) -> None:  # the batch-size finder sets it
        self.datamodule.batch_size = value

    @property
    def train_size(self) -> int:
        loader = self.datamodule.train_dataloader()
        dataset = getattr(loader, "dataset", None)
        return len(dataset) if dataset is not None else 0

    def effective_batch_size(self, world_size: int = 1) -> int:
        loader = self.datamodule.train_dataloader()
        return int(getattr(loader, "batch_size", None) or self.batch_size or 0) * world_size
