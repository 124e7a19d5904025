"""`seeds=N`: every setting of a sweep repeated over N seeds, for error bars.

The rule: with `seeds=N` each setting runs with `seed=s, s+1, ..., s+N-1`, where `s` is the
setting's `seed` (42 unless given). It is a sweep over `seed` added to the others, so each seed of
each setting is its own job with its own run directory, `seed=...` in its overrides, and the
comparison report groups the jobs that differ only in `seed`. A named sweep (`sweep=...`) launched
by `hydra/launcher=population` runs `hydra.launcher.sweep_seeds` seeds (5) when the command gives no
`seeds=`; `seeds=1` runs it once.
"""

from __future__ import annotations

import os

from dlbench.errors import ConfigError, require


def seed_count(value: object) -> int:
    """`seeds` as a whole number >= 1, or one sentence saying what is wrong."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    require(ok, f"seeds={value!r} is not a whole number; use seeds=5 to run every setting with 5 seeds.")
    require(
        int(value) >= 1,  # type: ignore[call-overload]
        f"seeds={value} must be >= 1; it is how many seeds each setting runs with (seeds=5: seed, ..., seed+4).",
    )
    return int(value)  # type: ignore[call-overload]


def seed_values(seed: int, count: int) -> list[int]:
    """The seeds of one setting: `seed`, `seed + 1`, ..., `seed + count - 1`."""
    return [int(seed) + offset for offset in range(count)]


def check_seeds_of_run(seeds: object, multirun: bool) -> None:
    """A single run with `seeds` other than 1: one sentence. (DDP children of a sweep's job run in
    RUN mode with the job's overrides, so they are let through.)"""
    count = seed_count(seeds)
    if count > 1 and not multirun and "LOCAL_RANK" not in os.environ:
        raise ConfigError(
            f"seeds={count} repeats every setting over {count} seeds, which takes a multirun; add -m "
            f"(python train.py -m seeds={count} ...)."
        )
