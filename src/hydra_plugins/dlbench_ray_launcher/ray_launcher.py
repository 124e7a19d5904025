"""`hydra/launcher=ray`: each job of a sweep is one Ray task, on a local Ray or an existing cluster.

Why our own and not Hydra's `hydra-ray-launcher` 1.2.2: that plugin imports Ray (and Ray's
autoscaler) from the module Hydra's plugin discovery imports on every start, so every
`python train.py` would pay Ray's import; a task lost with its node raises out of its `ray.get`
and ends the whole sweep without the other jobs' returns or a report; and it pins
`cloudpickle<3` and pulls `boto3` and `ray[default]` for its AWS mode. This class only holds the
options; the work is `dlbench.cluster.ray_jobs` (see docs/dev/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class RayLauncher(Launcher):
    """Options are `hydra.launcher.init` (`ray.init`'s) and `hydra.launcher.remote` (each task's)."""

    def __init__(self, init: Any = None, remote: Any = None, **_: Any) -> None:
        self.init = dict(init or {})
        self.remote = dict(remote or {})
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from dlbench.cluster.ray_jobs import launch

        return launch(self, job_overrides, initial_job_idx)
