"""How each experiment's jobs group under `hydra/launcher=population`, without training anything.

    python benchmarks/experiment_populations.py            # every experiment, a Markdown table
    python benchmarks/experiment_populations.py activations optimizers

Each job of `python train.py -m experiment=NAME` (its sweep's settings times its seeds) is
composed and resolved as the population launcher resolves it, then asked the launcher's two
questions (`dlbench.population.grouping`): can it join a population at all (`blocker`), and with
which jobs (`group_key`). A group of one job runs alone, as the launcher runs it. The table says
how many populations the experiment forms, how many jobs run alone, and the first reason of each
kind, so a change of the grouping rule shows what it buys.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from omegaconf import OmegaConf  # noqa: E402

from dlbench.config.compose import compose_config  # noqa: E402
from dlbench.config.context import from_hydra  # noqa: E402
from dlbench.config.plan import resolve  # noqa: E402
from dlbench.errors import ConfigError  # noqa: E402
from dlbench.experiments.catalog import every, sweep_plan  # noqa: E402
from dlbench.population.grouping import blocker, group_key  # noqa: E402


def grouping(name: str, workdir: Path) -> dict[str, object]:
    """The experiment's jobs, its populations (groups of two or more) and why the others run alone."""
    plan = sweep_plan(name)
    keys: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    jobs = 0
    for setting in plan.settings():
        for seed in plan.seeds:
            overrides = [
                f"experiment={name}",
                # a config group inside the experiment (experiment/perceptron_cases) is added, as `-m` records it
                *(f"{'+' if '/' in key else ''}{key}={value}" for key, value in setting.items()),
                f"seed={seed}",
                "seeds=1",
            ]
            config = compose_config(overrides, workdir / str(jobs))
            jobs += 1
            try:
                cfg = OmegaConf.create(dict(resolve(config, from_hydra()).config))
            except ConfigError as error:  # e.g. a GPU-sized experiment on a machine without one
                reasons[f"refused here: {str(error).split(' (')[0]}"] += 1
                continue
            reason = blocker(cfg)
            if reason is None:
                keys[group_key(cfg)] += 1
            else:
                reasons[reason.split(" ")[0]] += 1
    populations = [size for size in keys.values() if size >= 2]
    alone = sum(reasons.values()) + sum(size for size in keys.values() if size < 2)
    return {
        "jobs": jobs,
        "launcher": plan.launcher,
        "populations": sorted(populations, reverse=True),
        "alone": alone,
        "why alone": ", ".join(f"{reason} ({count})" for reason, count in reasons.most_common()) or "-",
    }


def main() -> None:
    names = sys.argv[1:] or [experiment.name for experiment in every()]
    print("| experiment | launcher | jobs | populations (members) | jobs alone | why alone |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            row = grouping(name, Path(work) / name)
            sizes = " + ".join(map(str, row["populations"])) or "-"
            count = len(row["populations"])  # type: ignore[arg-type]
            cells = [name, row["launcher"], row["jobs"], f"{count} ({sizes})", row["alone"], row["why alone"]]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
