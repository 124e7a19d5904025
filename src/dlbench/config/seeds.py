"""`seeds=N`: every setting of a sweep repeated over N seeds, for error bars.

The rule: with `seeds=N` each setting runs with `seed=s, s+1, ..., s+N-1`, where `s` is the
setting's `seed` (42 unless given). It is a sweep over `seed` added to the others, so each seed of
each setting is its own job with its own run directory, `seed=...` in its overrides, and the
comparison report groups the jobs that differ only in `seed`. A named sweep (`sweep=...`) launched
by `hydra/launcher=population` runs `hydra.launcher.sweep_seeds` seeds (5) when the command gives no
`seeds=`; `seeds=1` runs it once.
"""

from __future__ import annotations

from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser

from dlbench.config.schema import check_config
from dlbench.errors import ConfigError


def seed_count(value: object) -> int:
    """`seeds` as a whole number >= 1, or the schema's one sentence saying what is wrong."""
    check_config({"seeds": value})
    return int(value)


def seed_values(seed: int, count: int) -> list[int]:
    """The seeds of one setting: `seed`, `seed + 1`, ..., `seed + count - 1`."""
    return [int(seed) + offset for offset in range(count)]


def _keys(lines: list[str]) -> dict[str, Any]:
    return {override.get_key_element(): override for override in OverridesParser.create().parse_overrides(lines)}


def seeded_arguments(config: Any, arguments: list[str], params: dict[str, str]) -> list[str]:
    """`arguments` with the sweep over `seed` that `seeds` asks for (unchanged for one seed).

    Raises `dlbench.errors.ConfigError` (one sentence) for a bad `seeds` or one that collides with
    a sweep over `seed`."""
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
