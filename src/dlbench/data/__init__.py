"""Datasets as LightningDataModules that hold their data as tensors and declare a `DataSpec`."""

from dlbench.data.spec import DataSpec

__all__ = ["DataSpec"]
