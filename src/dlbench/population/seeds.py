"""`seeds=N`: every setting of a sweep repeated over N seeds, for error bars.

The rule: with `seeds=N` each setting runs with `seed=s, s+1, ..., s+N-1`, where `s` is the
setting's `seed` (42 unless given). It is a sweep over `seed` added to the others, so each seed of
each setting is its own job with its own run directory, `seed=...` in its overrides, and the
comparison report groups the jobs that differ only in `seed`. A named sweep (`sweep=...`) launched
by `hydra/launcher=population` runs `hydra.launcher.sweep_seeds` seeds (5) when the command gives no
`seeds=`; `seeds=1` runs it once.
"""

from __future__ import annotations

from dlbench.config.schema import check_config


def seed_count(value: object) -> int:
    """`seeds` as a whole number >= 1, or the schema's one sentence saying what is wrong."""
    check_config({"seeds": value})
    return int(value)


def seed_values(seed: int, count: int) -> list[int]:
    """The seeds of one setting: `seed`, `seed + 1`, ..., `seed + count - 1`."""
    return [int(seed) + offset for offset in range(count)]
