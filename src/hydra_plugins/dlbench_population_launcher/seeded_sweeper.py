"""Hydra's basic sweeper plus the `seeds` key: every setting repeated over `seeds` seeds.

`seeds=N` adds a sweep over `seed` (seed, seed+1, ..., seed+N-1) to the command's sweeps, so each
seed of each setting is an ordinary job: its own run directory, `seed=...` in its overrides, any
launcher. The seed varies fastest, so the seeds of one setting are neighbours in the job list (and
in one population). A named sweep run by `hydra/launcher=population` takes
`hydra.launcher.sweep_seeds` seeds (5) unless the command says `seeds=` or the config sets its own
(an experiment file's `seeds: 5`). Everything else is
Hydra's `BasicSweeper`. The rule itself is `dlbench.config.seeds.seeded_arguments`, which the
report's sweep plan reads back too. This module is imported by Hydra's plugin discovery on every
start, so it imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class SeededSweeper(BasicSweeper):
    """`BasicSweeper` that expands `seeds` (see the module docstring)."""

    def sweep(self, arguments: list[str]) -> Any:
        from dlbench.config.seeds import seeded_arguments
        from dlbench.errors import ConfigError

        try:
            arguments = seeded_arguments(self.config, list(arguments), dict(self.params or {}))
        except ConfigError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        return super().sweep(arguments)

    def get_job_batch(self) -> Any:
        """The next batch; before the first, the progress bar learns how many jobs there are."""
        if self.batch_index == 0 and self.overrides:
            from dlbench.terminal import watching

            watching.set_jobs(sum(len(batch) for batch in self.overrides))
        return super().get_job_batch()
