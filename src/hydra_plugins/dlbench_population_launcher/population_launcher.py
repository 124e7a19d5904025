"""`hydra/launcher=population`: a sweep's jobs trained as populations, in this process.

Like Hydra's basic launcher it runs every job in the launching process, one Hydra job (run
directory, `.hydra/`, callbacks, `JobReturn`) per set of overrides; unlike it, jobs that differ only
in per-member values (seed, optimizer hyperparameters, initializer, ...) are trained together, as
one vectorised population in one Lightning fit. A job a population cannot express runs alone, the
basic launcher's way, with one line saying which key forced it. The work is done by
`dlbench.population.launch`; this module is what Hydra's plugin discovery imports on every start,
so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class PopulationLauncher(Launcher):
    """See the module docstring; options are `hydra.launcher.*` (configs/hydra/launcher/population.yaml)."""

    def __init__(
        self,
        min_members: int = 2,
        pictures: bool = True,
        sweep_seeds: int = 5,
        backend: str = "local",
        ray: Any = None,
        **_: Any,
    ) -> None:
        from dlbench.config.schema import check_population_launcher

        check_population_launcher({"min_members": min_members, "pictures": pictures, "sweep_seeds": sweep_seeds})
        self.min_members = max(2, int(min_members))
        self.pictures = bool(pictures)
        self.sweep_seeds = int(sweep_seeds)
        if backend not in ("local", "ray"):
            raise ValueError(f"hydra.launcher.backend={backend} is not a backend; choose local or ray.")
        self.backend = backend  # ray: each population is one Ray task (dlbench.cluster.ray_jobs)
        self.ray = dict(ray or {})
        self.run_units: Any = None
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from dlbench.population.launch import launch

        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        self.run_units = None  # the units (populations, lone jobs) run here, one after another
        if self.backend == "ray":
            from dlbench.cluster.ray_jobs import run_units

            self.run_units = run_units  # each unit one Ray task
        return launch(self, job_overrides, initial_job_idx)
