"""`python -m dlbench.sweep sweeps/wandb/lr.yaml`: a W&B sweep spec, run here with no account.

The same spec drives `wandb sweep` + `wandb agent` on W&B's server; locally its search comes from
W&B's own open-source sweep engine (the `sweeps` package: grid, random, bayes, and hyperband
early termination), and each suggested parameter set runs as one job of `train.py`, as the
agent would run it (`key=value` overrides, `${args_no_hyphens}`). All jobs go into one sweep
directory, share one W&B group, and end with the same comparison report as a Hydra multirun.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import difflib
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dlbench.config.compose import CONFIGS
from dlbench.errors import ConfigError
from dlbench.records.summary import whole_summary

# The project root: where `python -m dlbench.sweep` is run from, or this checkout's root.
ROOT = Path.cwd() if (Path.cwd() / "configs" / "train.yaml").exists() else Path(__file__).resolve().parents[2]
AGENT_MACROS = {
    "${env}",
    "${interpreter}",
    "${program}",
    "${args}",
    "${args_no_hyphens}",
    "${args_no_boolean_flags}",
    "${args_json}",
    "${args_json_file}",
}


def _sweeps() -> Any:
    """W&B's sweep engine (its pydantic config warns on import; nothing for a user to act on)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sweeps
    return sweeps


def load_spec(path: str | Path) -> dict[str, Any]:
    """The spec file, checked against W&B's sweep schema."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"sweep spec {path} does not exist; give a file like sweeps/wandb/lr.yaml.")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(
            f"{path} is not valid YAML: {str(error).splitlines()[0]} ({getattr(error, 'problem_mark', '')}).".replace(
                "\n", " "
            )
        ) from None
    from jsonschema import ValidationError

    sweeps = _sweeps()

    try:
        sweeps.SweepConfig(spec)
    except ValidationError as error:
        raise ConfigError(
            f"{path} is not a valid W&B sweep spec: {error.message}; see "
            "https://docs.wandb.ai/guides/sweeps/sweep-config-keys."
        ) from None
    return spec


def fixed_arguments(spec: Mapping[str, Any]) -> list[str]:
    """The Hydra overrides written into the spec's `command` (everything but the agent's macros)."""
    command = spec.get("command") or []
    program = str(spec.get("program", "train.py"))
    fixed = []
    for item in command:
        item = str(item)
        if (
            item in AGENT_MACROS
            or item == program
            or item.endswith(".py")
            or Path(item).name.startswith(("python", "env"))
        ):
            continue
        fixed.append(item)
    return fixed


def _config_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        keys.append(name)
        if isinstance(value, Mapping):
            keys += _config_keys(value, name)
    return keys


def check_parameters(spec: Mapping[str, Any], fixed: list[str], configs: Path = CONFIGS) -> Any:
    """Every swept key must be a key of the composed config (or a group of configs/); else name it
    and the nearest valid keys, before any job runs. `+key` adds a new key and is not checked."""
    from omegaconf import OmegaConf

    from dlbench.config.compose import compose_config

    try:
        cfg = compose_config(fixed)
    except Exception as error:  # noqa: BLE001 - Hydra's own message names the bad override
        raise ConfigError(f"the sweep's fixed overrides {' '.join(fixed)} do not compose: {error}") from None
    valid = _config_keys(OmegaConf.to_container(cfg, resolve=False))
    groups = sorted(path.name for path in configs.iterdir() if path.is_dir())
    for key, options in (spec.get("parameters") or {}).items():
        if key.startswith("+"):
            continue
        name = key.lstrip("~")
        if name in groups:
            values = options.get("values") or ([options["value"]] if "value" in options else [])
            available = sorted(path.stem for path in (configs / name).glob("*.yaml"))
            for value in values:
                if str(value) not in available:
                    raise ConfigError(
                        f"sweep parameter {name}={value} names no config in configs/{name}/; choose from "
                        f"{', '.join(available)}."
                    )
            continue
        if name not in valid:
            nearest = difflib.get_close_matches(name, valid + groups, n=3, cutoff=0.5)
            hint = (
                f"nearest valid keys: {', '.join(nearest)}"
                if nearest
                else "see `python train.py --cfg job` for the keys"
            )
            raise ConfigError(
                f"sweep parameter {name!r} is not a key of the config; {hint} (or write '+{name}' to add a new key)."
            )
    return cfg


def format_value(value: Any) -> str:
    """A value as a Hydra override writes it: lists without spaces, strings bare."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """The epoch rows written so far (metrics.csv), for hyperband while a job runs."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    rows = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            values = {key: float(value) for key, value in row.items() if key and value not in ("", None)}
            if any(key.startswith("val/") for key in values):
                rows.append(values)
    return rows


def sweep_directory(spec: Mapping[str, Any], spec_path: Path) -> Path:
    now = datetime.datetime.now()
    name = str(spec.get("name") or spec_path.stem).replace("/", "-").replace(" ", "-")
    return ROOT / "multirun" / now.strftime("%Y-%m-%d") / f"{now.strftime('%H-%M-%S-%f')}-wandb-{name}"


def run_sweep(
    spec_path: str | Path, count: int | None = None, sweep_dir: str | Path | None = None, extra: list[str] | None = None
) -> Path:
    """Run the spec's jobs one after another; write the comparison report; return the sweep dir."""
    from dlbench.loggers.wandb_logger import sweep_group

    sweeps = _sweeps()

    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    fixed = fixed_arguments(spec) + list(extra or [])
    cfg = check_parameters(spec, fixed)
    if spec.get("early_terminate"):
        # hyperband reads each job's epochs as they come: metrics.csv must be written every epoch
        if "csv" not in (cfg.get("logger") or {}):
            raise ConfigError(
                f"early_terminate in {spec_path} reads metrics.csv while a job runs; keep logger=csv in the "
                "spec's command (e.g. logger=[csv,wandb])."
            )
        fixed.append("++logger.csv.flush_logs_every_n_steps=1")
    limit = count or spec.get("run_cap")
    if spec["method"] != "grid" and not limit:
        raise ConfigError(
            f"a {spec['method']} sweep never runs out of suggestions; set run_cap in {spec_path} or pass --count N."
        )
    directory = Path(sweep_dir) if sweep_dir else sweep_directory(spec, spec_path)
    directory.mkdir(parents=True, exist_ok=True)
    program = Path(spec.get("program", "train.py"))
    program = program if program.is_absolute() else ROOT / program
    metric = (spec.get("metric") or {}).get("name")
    environment = {
        **os.environ,
        "WANDB_RUN_GROUP": os.environ.get("WANDB_RUN_GROUP") or sweep_group(directory),
        "DLBENCH_SWEEP_DIR": str(directory),  # MLflow nests the jobs under one parent run of this sweep
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("WANDB_SWEEP_ID", None)
    print(f"sweep {spec_path} ({spec['method']}): jobs in {directory}", flush=True)

    runs: list[Any] = []
    while limit is None or len(runs) < limit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            suggestion = sweeps.next_run(spec, runs)
        if suggestion is None:  # a grid with every point run
            break
        number = len(runs)
        suggestion.name = str(number)
        parameters = {key: item["value"] for key, item in suggestion.config.items()}
        job_dir = directory / str(number)
        overrides = [f"{key}={format_value(value)}" for key, value in parameters.items()]
        print(f"job {number}: {' '.join(overrides)}", flush=True)
        command = [sys.executable, str(program), *fixed, *overrides, f"hydra.run.dir={job_dir}"]
        suggestion.state = sweeps.RunState.running
        process = subprocess.Popen(command, cwd=ROOT, env=environment)
        stopped = _wait(process, spec, runs, suggestion, job_dir)
        summary = whole_summary(job_dir)  # None: its history is read from metrics.csv
        suggestion.history = (summary.history if summary else None) or read_history(job_dir)
        best = summary.best if summary else None
        if metric and best and best.metric == metric:
            suggestion.summary_metrics = {metric: best.value}
        suggestion.exitcode = process.returncode
        suggestion.state = sweeps.RunState.finished if process.returncode == 0 or stopped else sweeps.RunState.failed
        suggestion.stopped = stopped
        if stopped:
            print(f"job {number}: stopped early by hyperband", flush=True)
        runs.append(suggestion)

    _report(directory)
    return directory


def _wait(process: subprocess.Popen, spec: Mapping[str, Any], runs: list[Any], current: Any, job_dir: Path) -> bool:
    """Wait for the job; with `early_terminate` (hyperband), stop it when W&B's engine says so."""
    if not spec.get("early_terminate"):
        process.wait()
        return False
    sweeps = _sweeps()
    stopped = False
    while process.poll() is None:
        time.sleep(1.0)
        current.history = read_history(job_dir)
        if stopped or not current.history:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            to_stop = sweeps.stop_runs(spec, [*runs, current])
        if any(run.name == current.name for run in to_stop):
            # the job saves last.ckpt and its summary, then ends. SIGTERM, not SIGINT: a process a
            # shell starts in the background ignores SIGINT, and so would the jobs it starts
            process.send_signal(signal.SIGTERM)
            stopped = True
    return stopped


def _report(directory: Path) -> None:
    from dlbench.loggers.sweep_end import report_to_loggers
    from dlbench.report import write_sweep_report

    try:
        written = write_sweep_report(directory)
    except FileNotFoundError as error:
        print(f"warning: no comparison report: {error}", file=sys.stderr)
        return
    print(f"comparison report: {directory}/report.md ({len(written)} files)", flush=True)
    report_to_loggers(directory, written)  # W&B's sweep group, MLflow's parent run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbench.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="a W&B sweep spec, e.g. sweeps/wandb/lr.yaml")
    parser.add_argument(
        "--count", type=int, help="run at most this many jobs (default: the spec's run_cap; a grid ends by itself)"
    )
    parser.add_argument("--sweep-dir", help="where the jobs go (default multirun/<date>/<time>-wandb-<name>)")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every job, e.g. trainer.max_epochs=3")
    args = parser.parse_intermixed_args(argv)
    try:
        run_sweep(args.spec, args.count, args.sweep_dir, args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
