"""Hydra's basic sweeper plus the `seeds` key: every setting repeated over `seeds` seeds.

`seeds=N` adds a sweep over `seed` (seed, seed+1, ..., seed+N-1) to the command's sweeps, so each
seed of each setting is an ordinary job: its own run directory, `seed=...` in its overrides, any
launcher. The seed varies fastest, so the seeds of one setting are neighbours in the job list (and
in one population). A named sweep run by `hydra/launcher=population` takes
`hydra.launcher.sweep_seeds` seeds (5) unless the command says `seeds=` or the config sets its own
(an experiment file's `seeds: 5`). Everything else is
Hydra's `BasicSweeper`. This module is imported by Hydra's plugin discovery on every start, so it
imports nothing heavy.
"""

from __future__ import annotations

import sys
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser


def _keys(lines: list[str]) -> dict[str, Any]:
    return {override.get_key_element(): override for override in OverridesParser.create().parse_overrides(lines)}


def seeded_arguments(config: Any, arguments: list[str], params: dict[str, str]) -> list[str]:
    """`arguments` with the sweep over `seed` that `seeds` asks for (unchanged for one seed).

    Raises `dlbench.errors.ConfigError` (one sentence) for a bad `seeds` or one that collides with
    a sweep over `seed`."""
    from dlbench.errors import ConfigError
    from dlbench.population.seeds import seed_count, seed_values

    given = _keys([*(f"{key}={value}" for key, value in params.items()), *arguments])
    if "seeds" in given and given["seeds"].is_sweep_override():
        raise ConfigError(f"{given['seeds'].input_line} sweeps seeds; give one number, e.g. seeds=5.")
    launcher = config.hydra.runtime.choices.get("hydra/launcher")
    named_sweep = config.hydra.runtime.choices.get("sweep")
    default = int(config.hydra.launcher.get("sweep_seeds", 1)) if launcher == "population" and named_sweep else 1
    # the command's seeds=, or a config's own (an experiment's `seeds: 5`), else the default
    explicit = "seeds" in given or config.get("seeds", 1) != 1
    count = seed_count(config.get("seeds", 1) if explicit else default)
    if count == 1:
        return list(arguments)
    if "seed" in given and given["seed"].is_sweep_override():
        raise ConfigError(
            f"seeds={count} and {given['seed'].input_line} both choose the seeds; keep one of them "
            f"(seeds={count} runs seed, seed+1, ..., seed+{count - 1})."
        )
    seeds = ",".join(str(seed) for seed in seed_values(int(config.seed), count))
    return [*arguments, *([] if explicit else [f"seeds={count}"]), f"seed={seeds}"]


class SeededSweeper(BasicSweeper):
    """`BasicSweeper` that expands `seeds` (see the module docstring)."""

    def sweep(self, arguments: list[str]) -> Any:
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
            from dlbench import progress_label

            progress_label.set_jobs(sum(len(batch) for batch in self.overrides))
        return super().get_job_batch()
