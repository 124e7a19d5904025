"""What every dlbench logger does beyond Lightning's `log_metrics`: one protocol, three moments.

Lightning's `Logger` covers what happens while training (metrics per step or epoch). A dlbench run
also has a beginning, an end and a place:

- `start(config)`: the resolved config, flat (`optimizer.lr`), before the first epoch: W&B's
  config panel, MLflow's params, TensorBoard's hparams.yaml (its HParams tab waits for the end:
  it wants the hyperparameters and the final metrics together); a logger without `start`
  (Lightning's CSV logger, a user's) gets Lightning's `log_hyperparams(config)` instead;
- `log_picture(key, path, step)`: a PNG the run drew (training curves, filters, the lr finder);
- `finish_run(summary, pictures)`: `summary.json`'s numbers and status, and every picture not yet
  logged; this ends the logger's run with the run's real status (failed, interrupted, ...);
- `record()`: where this run's records are (a W&B URL, an MLflow run id, a TensorBoard
  directory), written to `<run dir>/loggers.json` so the sweep's report can link every job.

Loggers that do not implement it (Lightning's CSV logger, a user's own) are simply left out, so
`execute.py` calls `start_loggers` and `finish_loggers` without knowing which loggers there are.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pytorch_lightning.utilities import rank_zero_only

from dlbench.records.summary import Summary

RECORD_FILE = "loggers.json"
# Directories where loggers keep their own files: their PNGs are not pictures of the run.
LOGGER_DIRS = ("wandb", "tensorboard", "mlruns")


@runtime_checkable
class RunLogger(Protocol):
    """A logger that takes part in a dlbench run's start and finish (see the module docstring)."""

    def start(self, config: Mapping[str, Any]) -> None: ...

    def log_picture(self, key: str, path: Path, step: int | None = None) -> None: ...

    def finish_run(self, summary: Summary, pictures: Sequence[Path]) -> None: ...

    def record(self) -> dict[str, Any]: ...


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"optimizer": {"lr": 0.1}}` -> `{"optimizer.lr": 0.1}`: the names W&B, MLflow and TensorBoard show.

    Hydra's own section and the `_partial_`/`_convert_` instantiation flags say nothing about a run
    and are left out; `_target_` stays, since it names the class that was compared.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        key = str(key)
        if (not prefix and key == "hydra") or key in ("_partial_", "_convert_", "_recursive_"):
            continue
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def run_loggers(loggers: Iterable[Any]) -> list[RunLogger]:
    return [logger for logger in loggers if isinstance(logger, RunLogger)]


def run_pictures(run_dir: str | Path) -> list[Path]:
    """Every PNG the run left in its directory (`pictures/`, `lr_find.png`), loggers' own files aside."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    return sorted(
        path for path in run_dir.rglob("*.png") if not set(path.relative_to(run_dir).parts) & set(LOGGER_DIRS)
    )


def _warn(logger: Any, what: str, error: Exception) -> None:
    print(f"{type(logger).__name__}: could not {what} ({type(error).__name__}: {error})", file=sys.stderr)


def start_loggers(loggers: Iterable[Any], config: Mapping[str, Any]) -> None:
    """Open each logger's run with the resolved config; write where each one keeps it (`loggers.json`)."""
    loggers = list(loggers)
    started = run_loggers(loggers)
    for logger in started:
        logger.start(config)
    for logger in loggers:  # Lightning's own (CSV: hparams.yaml) and a user's: the standard call
        if logger not in started and hasattr(logger, "log_hyperparams"):
            logger.log_hyperparams({key: value for key, value in config.items() if key != "hydra"})
    output_dir = (config.get("paths") or {}).get("output_dir")
    if started and output_dir and rank_zero_only.rank == 0:
        records = {}
        for logger in started:
            try:
                records.update(logger.record())
            except Exception as error:  # noqa: BLE001 - a missing link must not stop the run
                _warn(logger, "say where its records are", error)
        if records:
            (Path(output_dir) / RECORD_FILE).write_text(json.dumps(records, indent=2) + "\n")


def log_picture(loggers: Iterable[Any], key: str, path: str | Path, step: int | None = None) -> None:
    """Hand one picture of the run to every logger that shows pictures."""
    for logger in run_loggers(loggers):
        logger.log_picture(key, Path(path), step)


def finish_loggers(loggers: Iterable[Any], summary: Summary) -> None:
    """End every logger's run as `summary.status` says, with the run's pictures; a logger's error only warns."""
    pictures = run_pictures(summary.run_dir) if summary.run_dir else []
    for logger in run_loggers(loggers):
        try:
            logger.finish_run(summary, pictures)
        except Exception as error:  # noqa: BLE001 - the run itself is done and saved; say so and go on
            _warn(logger, "finish the run cleanly", error)


def read_records(run_dir: str | Path) -> dict[str, Any]:
    """`<run dir>/loggers.json`: where each logger of that run keeps its records ({} when none)."""
    path = Path(run_dir) / RECORD_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
