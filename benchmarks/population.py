"""The population rows of the benchmark: many members trained at once against one run alone.

Cases (issue 18's targets, then issue 27's for larger populations):
- `population_mirror`: the 1986 mirror-symmetry net, 2,000 epochs, 16 members (4 learning rates x
  4 seeds) against ONE dlbench run of the same case (<= 2.0x its time);
- `population_mirror_64`, `population_mirror_256`: the same with 64 and 256 members (4 learning
  rates x 16 and 64 seeds; <= 1.5x and <= 2.0x one run); the 256 members' row also checks the
  cost of one member against one hand-written loop's run (< 0.1x);
- `population_iris`: the Iris MLP, 200 epochs, 64 members (8 learning rates x 8 seeds) against one
  run (<= 2.0x; issue 18 asked <= 3.0x);
- `population_lenet`: LeNet on the MNIST subset (MNIST-shaped when absent), 3 epochs, 8 members
  (8 seeds) against 8 runs one after another (8 x one run's time; faster is the target);
- `population_lenet_256`, `population_lenet_1024` (GPU rows, `--device cuda`): LeNet on the MNIST
  subset, 3 epochs, 256 and 1,024 members (8 learning rates x 32 and 128 seeds), run through vmap,
  against one run alone; no target yet (the first GPU measurement sets it). On the CPU they run
  only with `--quick` (2 and 4 members), with `--population-mode vmap` to take the GPU's path;
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

import contextlib
import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


MIRROR_RATES = (0.25, 0.5, 1.0, 2.0)
LENET_RATES = (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2)


def population_cases(quick: bool) -> dict[str, dict[str, Any]]:
    """Case name -> the base training case it is measured against and its members' overrides.

    `target`: the most the population may take, times one run alone (`against: "one"`) or times
    its members' runs one after another (`"each"`), None where none is set yet;
    `per_member_target`: the most one member may cost, as a fraction of one hand-written loop's run;
    `gpu`: a GPU row (refused on the CPU without `--quick`)."""

    def grid(rates: tuple[float, ...], seeds: int) -> list[list[str]]:
        return [[f"optimizer.lr={lr}", f"seed={seed}"] for lr in rates for seed in range(seeds)]

    mirror_title = "mirror symmetry 6-2-1, {epochs} epochs: {members} members (4 lr x {seeds} seeds) vs one run"
    lenet_title = (
        "LeNet, MNIST subset, batch 64, {epochs} epochs, {mode}: {members} members ({rates} lr x {seeds} seeds) "
        "vs one run"
    )
    return {
        "population_mirror": {
            "base": "mirror_symmetry",
            "title": mirror_title,
            "members": grid(MIRROR_RATES, 4),
            "against": "one",
            "target": 2.0,
        },
        "population_mirror_64": {
            "base": "mirror_symmetry",
            "title": mirror_title,
            "members": grid(MIRROR_RATES, 4 if quick else 16),
            "against": "one",
            "target": 1.5,
        },
        "population_mirror_256": {
            "base": "mirror_symmetry",
            "title": mirror_title,
            "members": grid(MIRROR_RATES, 8 if quick else 64),
            "against": "one",
            "target": 2.0,
            "per_member_target": 0.1,
        },
        "population_iris": {
            "base": "iris_mlp",
            "title": "Iris MLP 4-16-3, {epochs} epochs: {members} members (8 lr x {seeds} seeds) vs one run",
            "members": grid((0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0), 2 if quick else 8),
            "against": "one",
            "target": 2.0,
        },
        "population_lenet": {
            "base": "lenet_mnist",
            "title": "LeNet, MNIST subset, batch 64, {epochs} epochs: {members} members ({seeds} seeds) vs "
            "{members} runs alone",
            "members": [[f"seed={seed}"] for seed in range(2 if quick else 8)],
            "against": "each",
            "target": 1.0,
        },
        "population_lenet_256": {
            "base": "lenet_mnist",
            "title": lenet_title,
            "members": grid(LENET_RATES[:2], 1) if quick else grid(LENET_RATES, 32),
            "against": "one",
            "target": None,
            "per_member_target": 0.1,
            "gpu": True,
        },
        "population_lenet_1024": {
            "base": "lenet_mnist",
            "title": lenet_title,
            "members": grid(LENET_RATES[:2], 2) if quick else grid(LENET_RATES, 128),
            "against": "one",
            "target": None,
            "per_member_target": 0.1,
            "gpu": True,
        },
    }


@contextlib.contextmanager
def members_run(mode: str, chosen: list[str]) -> Iterator[None]:
    """While inside, the population's network runs its members the `mode` way ("auto": as dlbench
    chooses, `StackedNetwork.choose_mode`; "vmap", "loop" or "chain": forced, for the benchmark
    to run the GPU rows' path on the CPU), and `chosen` gets each mode chosen."""
    from dlbench.population.network import StackedNetwork

    original = StackedNetwork.choose_mode

    def choose_mode(self: StackedNetwork, device: Any) -> str:
        value = original(self, device) if mode == "auto" else mode
        chosen.append(value)
        return value

    StackedNetwork.choose_mode = choose_mode  # type: ignore[method-assign]
    try:
        yield
    finally:
        StackedNetwork.choose_mode = original  # type: ignore[method-assign]


def run_population(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the members as `python train.py <overrides>` would, train them as one population,
    and time it. `spec` is the base case's spec plus `members` (each member's extra overrides)."""
    import io
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    from benchmarks.cases import compose, gpu_peak
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
    chosen: list[str] = []
    with contextlib.redirect_stdout(io.StringIO()), members_run(spec.get("mode", "auto"), chosen):
        summaries = train_population(members, pictures=spec.get("pictures", False), timings=timings)
    if spec.get("device", "cpu") == "cuda":
        import torch

        torch.cuda.synchronize()
    return {
        "time_s": timings["fit_s"],
        "cpu_s": timings["fit_cpu_s"],
        "total_s": time.perf_counter() - started,
        "build_s": build_s,
        "members": len(members),
        "statuses": [summary.status for summary in summaries],
        "epochs": summaries[0].epochs_run,
        "mode": chosen[-1] if chosen else None,  # how the members ran: "chain", "loop" or "vmap"
        **gpu_peak(spec),
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
