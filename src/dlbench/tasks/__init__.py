"""LightningModules: what is learned (classify, regress, reconstruct) around a plain model."""

from dlbench.tasks.task import Task, TrainingDiverged

__all__ = ["Task", "TrainingDiverged"]
