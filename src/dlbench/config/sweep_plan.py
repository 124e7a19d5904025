"""What a sweep set out to run, read back from the `multirun.yaml` Hydra leaves in its directory.

The jobs' own directories say what ran; only the sweep's command says what was meant to run
and which keys it sweeps. Without it a sweep stopped after its first job looks like a lone job
whose every override (`trainer.max_epochs=2`, ...) is a swept key, and the jobs that never
started are not in the report at all. Hydra saves the command's overrides and the sweeper's
parameters (`sweep=<name>`, `hparams_search=...`) in `<sweep dir>/multirun.yaml`; parsed with
Hydra's own override grammar they give the swept keys, and for the basic sweeper the list of
jobs in Hydra's order (job number i is the i-th combination).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLAN_FILE = "multirun.yaml"


@dataclass(frozen=True)
class SweepPlan:
    """The command's task overrides, the swept keys, and every job's overrides (None where the
    sweeper picks them as it goes, e.g. Optuna; `n_trials` then says how many)."""

    overrides: tuple[str, ...]
    params: tuple[str, ...]
    swept: tuple[str, ...]
    jobs: tuple[tuple[str, ...], ...] | None
    n_trials: int | None = None


def read_plan(sweep_dir: str | Path) -> SweepPlan | None:
    """The plan of the sweep in `sweep_dir`, or None if it has no readable multirun.yaml."""
    path = Path(sweep_dir) / PLAN_FILE
    if not path.is_file():
        return None
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        config = OmegaConf.load(path)
        overrides = tuple(str(item) for item in config.hydra.overrides.task)
        sweeper = config.hydra.get("sweeper") or {}
        params = tuple(f"{key}={value}" for key, value in (sweeper.get("params") or {}).items())
        arguments = list(overrides)
        seeded = str(sweeper.get("_target_", "")).endswith("SeededSweeper")
        if seeded:  # the jobs of seeds=N: the sweep over seed that sweeper added
            from dlbench.config.seeds import seeded_arguments

            arguments = seeded_arguments(config, arguments, dict(sweeper.get("params") or {}))
        parsed = OverridesParser.create().parse_overrides([*params, *arguments])
    except Exception:  # noqa: BLE001 - an unreadable plan: the report falls back to what the jobs' files say
        return None
    swept = tuple(override.get_key_element().lstrip("+~") for override in parsed if override.is_sweep_override())
    jobs = None
    if (seeded or str(sweeper.get("_target_", "")).endswith("BasicSweeper")) and all(
        override.is_discrete_sweep() for override in parsed if override.is_sweep_override()
    ):
        batches = BasicSweeper.split_arguments(parsed, None)
        jobs = tuple(tuple(job) for batch in batches for job in batch)
    trials = sweeper.get("n_trials")
    return SweepPlan(overrides, params, swept, jobs, int(trials) if isinstance(trials, int) else None)


def same_sweep(sweep_dir: str | Path, overrides: list[str], params: dict[str, str] | None) -> tuple[bool, str]:
    """Whether `sweep_dir` holds this sweep (same command overrides and sweeper parameters), and,
    if not, the other sweep's overrides for the message."""
    plan = read_plan(sweep_dir)
    if plan is None:
        return True, ""
    ours = (tuple(overrides), tuple(f"{key}={value}" for key, value in (params or {}).items()))
    if ours == (plan.overrides, plan.params):
        return True, ""
    return False, " ".join([*plan.params, *plan.overrides]) or "(no overrides)"
