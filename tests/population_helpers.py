"""Shared by the population tests: train members together, and the same overrides alone."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

from dlbench.config.compose import compose_config

TIMING = ("time/epoch_s",)


def population(
    root: Path, settings: list[list[str]], pictures: bool = False, built: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Build one member per list of overrides (run dirs root/pop/<i>) and train them as one population
    (`built`, when given, gets the members, to look at after their training)."""
    from types import SimpleNamespace

    from dlbench.config.context import from_hydra
    from dlbench.population.fit import train_population
    from dlbench.population.members import DataModules, build_member

    data = DataModules()
    members = []
    for index, overrides in enumerate(settings):
        cfg = compose_config(list(overrides), root / "pop" / str(index))
        job = SimpleNamespace(config=cfg)
        members.append(build_member(index, job, list(overrides), from_hydra(), data))
    if built is not None:
        built.extend(members)
    with contextlib.redirect_stdout(io.StringIO()):
        train_population(members, pictures=pictures)
    return [json.loads((root / "pop" / str(index) / "summary.json").read_text()) for index in range(len(settings))]


def alone(root: Path, settings: list[list[str]]) -> list[dict[str, Any]]:
    """Each list of overrides as its own standalone run (run dirs root/alone/<i>)."""
    from dlbench.run import train

    summaries = []
    for index, overrides in enumerate(settings):
        run_dir = root / "alone" / str(index)
        with contextlib.redirect_stdout(io.StringIO()):
            train(compose_config(list(overrides), run_dir))
        summaries.append(json.loads((run_dir / "summary.json").read_text()))
    return summaries


def worst_difference(a: list[dict[str, float]], b: list[dict[str, float]]) -> tuple[float, Any]:
    """The largest relative difference between two histories (same epochs, same keys), and where."""
    assert len(a) == len(b), f"{len(a)} epochs against {len(b)}"
    worst, where = 0.0, None
    for row_a, row_b in zip(a, b, strict=True):
        assert set(row_a) == set(row_b), set(row_a) ^ set(row_b)
        for key, value in row_a.items():
            if key in TIMING:
                continue
            other = row_b[key]
            if isinstance(value, str) or isinstance(other, str):
                assert value == other, (key, value, other)
                continue
            if math.isnan(value) and math.isnan(other):
                continue
            difference = abs(value - other) / max(abs(value), 1e-12)
            if difference > worst:
                worst, where = difference, (row_a.get("epoch"), key, value, other)
    return worst, where
