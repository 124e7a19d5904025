"""The population rows of the benchmark: many members trained at once against one run alone.

Cases (issue 18's targets):
- `population_mirror`: the 1986 mirror-symmetry net, 2,000 epochs, 16 members (4 learning rates x
  4 seeds) against ONE dlbench run of the same case (<= 2.0x its time);
- `population_iris`: the Iris MLP, 200 epochs, 64 members (8 learning rates x 8 seeds) against one
  run (<= 3.0x);
- `population_lenet`: LeNet on the MNIST subset (MNIST-shaped when absent), 3 epochs, 8 members
  (8 seeds) against 8 runs one after another (8 x one run's time; faster is the target);
- `population_sweep`: the whole command `python train.py -m sweep=lr seeds=5
  hydra/launcher=population` (4 rates x 5 seeds = 20 jobs) against today's single-seed
  `python train.py -m sweep=lr` with the basic launcher (<= 2.0x).

A training row times the population's `trainer.fit` (first step to the end of fit: every member's
epochs, rows, checkpoints; members' pictures are drawn after fit and are not included, as noted
in the table) against the same case's `dlbench` side (its fit, pictures included) and `hand` side
(the hand-written loop; per member: population time / members / hand time). Peak memory is the
process's peak RSS, also divided by the members.

Run as `python -m benchmarks.population '<json spec>'` for one population (prints one JSON line).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def population_cases(quick: bool) -> dict[str, dict[str, Any]]:
    """Case name -> the base training case it is measured against and its members' overrides."""
    return {
        "population_mirror": {
            "base": "mirror_symmetry",
            "title": "mirror symmetry 6-2-1, {epochs} epochs: {members} members (4 lr x {seeds} seeds) vs one run",
            "members": [[f"optimizer.lr={lr}", f"seed={seed}"] for lr in (0.25, 0.5, 1.0, 2.0) for seed in range(4)],
            "against": "one",
            "target": 2.0,
        },
        "population_iris": {
            "base": "iris_mlp",
            "title": "Iris MLP 4-16-3, {epochs} epochs: {members} members (8 lr x {seeds} seeds) vs one run",
            "members": [
                [f"optimizer.lr={lr}", f"seed={seed}"]
                for lr in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
                for seed in range(2 if quick else 8)
            ],
            "against": "one",
            "target": 3.0,
        },
        "population_lenet": {
            "base": "lenet_mnist",
            "title": "LeNet, MNIST subset, batch 64, {epochs} epochs: {members} members ({seeds} seeds) vs "
            "{members} runs alone",
            "members": [[f"seed={seed}"] for seed in range(2 if quick else 8)],
            "against": "each",
            "target": 1.0,
        },
    }


def run_population(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the members as `python train.py <overrides>` would, train them as one population,
    and time it. `spec` is the base case's spec plus `members` (each member's extra overrides)."""
    import contextlib
    import io
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    from benchmarks.cases import compose
    from dlbench.config.context import from_hydra
    from dlbench.population.fit import train_population
    from dlbench.population.members import DataModules, build_member

    workdir = Path(spec["workdir"])
    data = DataModules()
    members = []
    started_build = time.perf_counter()
    for index, extra in enumerate(spec["members"]):
        member_spec = {**spec, "overrides": [*spec["overrides"], *extra]}
        cfg = compose(member_spec, workdir / "population" / str(index))
        cfg.callbacks.pictures.enabled = spec.get("pictures", False)
        cfg.dataset.seed = cfg.seed  # the case's own data module has a fixed seed; a member's is its run's
        job = SimpleNamespace(config=cfg)  # what build_member reads of a Hydra job
        members.append(build_member(index, job, list(member_spec["overrides"]), from_hydra(), data))
    build_s = time.perf_counter() - started_build
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        summaries = train_population(members, pictures=spec.get("pictures", False), timings=timings)
    return {
        "time_s": timings["fit_s"],
        "cpu_s": timings["fit_cpu_s"],
        "total_s": time.perf_counter() - started,
        "build_s": build_s,
        "members": len(members),
        "statuses": [summary.status for summary in summaries],
        "epochs": summaries[0].epochs_run,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    import torch

    torch.set_num_threads(spec["threads"])
    result = run_population(spec)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
