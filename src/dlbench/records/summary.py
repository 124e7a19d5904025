"""`summary.json` as one typed record: what a run did, in one file a person or a sweep report reads.

One model, `Summary`, made by three constructors (`running`, `failed`, `finished`) and read back by
`load_summary`, so every writer writes the same fields and every reader (the report, the
experiments' check and gallery, the loggers, the sweep's job starter) gets numbers as numbers.
JSON has no NaN or infinity: such a value is written as the string 'NaN' / 'Infinity' (files of
earlier versions: 'nan' / 'inf') and read back as the float. Fields a newer version adds are kept
(`extra="allow"`), so an older reader loads a newer file. The JSON Schema (`summary_schema()`) is
in docs/run-directory.md.
"""

from __future__ import annotations

import functools
import math
import subprocess
import traceback as traceback_module
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from dlbench.records.atomic import disk_full, overwrite_in_place, write_atomic

SUMMARY_FILE = "summary.json"

Status = Literal["running", "completed", "diverged", "interrupted", "failed", "lost", "not started"]
# A float in summary.json: a JSON number, or one of the strings NaN and infinity are written as.
Number = Annotated[
    float,
    WithJsonSchema({"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"]}]}),
]
Row = dict[str, Number]


class Record(BaseModel):
    """A part of the record: unknown fields kept, numbers parsed once."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="strings")


class Best(Record):
    epoch: int
    metric: str
    value: Number


class Metrics(Record):
    """The last epoch's train and val metrics without their split prefix; test: on the tested checkpoint."""

    train: Row = Field(default_factory=dict)
    val: Row = Field(default_factory=dict)
    test: Row = Field(default_factory=dict)

    def get(self, column: str) -> float | None:
        """`metrics.get("test/acc")`: one metric by its full name, None where it was not logged."""
        split, _, name = column.partition("/")
        return (getattr(self, split, None) or {}).get(name) if split in ("train", "val", "test") else None


class Checkpoints(Record):
    best: str | None = None
    last: str | None = None


class LastCheckpoint(Record):
    """The `last.ckpt` on disk and the moment it holds."""

    path: str
    epoch: int | None = None
    step: int | None = None
    end_of_epoch: bool | None = None


class DataFacts(Record):
    name: str
    input_shape: list[int]
    num_outputs: int
    kind: str
    train_size: int


class Process(Record):
    """The process writing a running summary, for telling `running` from `lost`."""

    pid: int
    host: str
    started: Number | None = None


class Summary(Record):
    """Everything `summary.json` holds, in its order (docs/run-directory.md). A running summary holds
    the fields of `running`, a failed job's the fields of `failed`, a finished run's all the rest."""

    status: Status
    stop_reason: str | None = None
    diverged: dict[str, Any] | None = None
    metrics: Metrics = Field(default_factory=Metrics)
    best: Best | None = None
    best_epoch: int | None = None
    epochs_run: int = 0
    criterion: dict[str, Any] | None = None
    epochs_to_criterion: int | None = None
    wall_time_s: Number | None = None
    time_per_epoch_s: Number | None = None
    samples_per_s: Number | None = None
    parameters: int | None = None
    flops_per_example: int | None = None
    data: DataFacts | None = None
    devices: dict[str, Any] = Field(default_factory=dict)
    effective_batch_size: int | None = None
    lr: Number | None = None
    seed: int | None = None
    checkpoints: Checkpoints = Field(default_factory=Checkpoints)
    last_checkpoint: LastCheckpoint | None = None
    tuning: dict[str, Any] | None = None
    history: list[Row] = Field(default_factory=list)
    process: Process | None = None
    history_file: str | None = None
    overrides: list[str] = Field(default_factory=list)
    run_dir: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    git_commit: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    updated: Number | None = None
    traceback: str | None = None

    @classmethod
    def running(
        cls,
        *,
        process: Mapping[str, Any],
        overrides: Sequence[str],
        run_dir: str,
        last_row: Mapping[str, float],
        epochs_run: int,
        best: Best | None,
        checkpoints: Checkpoints,
        last_checkpoint: Mapping[str, Any] | None,
        updated: float,
    ) -> Summary:
        """The record of a run under way, rewritten after every epoch: the epochs run, the last row,
        the best so far, where `last.ckpt` stands and which process runs it (the per-epoch history
        is in metrics.csv)."""
        return cls(
            status="running",
            stop_reason=None,
            process=Process.model_validate(process),
            history_file="metrics.csv",
            overrides=list(overrides),
            run_dir=run_dir,
            epochs_run=epochs_run,
            metrics=Metrics(**split_metrics(last_row, ("train", "val"))),
            best=best,
            best_epoch=best.epoch if best else None,
            last_checkpoint=last_checkpoint,
            checkpoints=checkpoints,
            updated=updated,
        )

    @classmethod
    def _untrained(
        cls, *, status: str, stop_reason: str, run_dir: Path, overrides: Sequence[str], **extra: Any
    ) -> Summary:
        """The record of a job that ended before its first epoch: no metrics, no history, no best."""
        return cls(
            status=status,
            stop_reason=stop_reason,
            metrics=Metrics(train={}, val={}, test={}),
            best=None,
            epochs_run=0,
            history=[],
            overrides=list(overrides),
            run_dir=str(run_dir.resolve()),
            **extra,
        )

    @classmethod
    def failed(cls, *, run_dir: Path, overrides: Sequence[str], error: BaseException) -> Summary:
        """The record of a job that failed before training could write its own."""
        return cls._untrained(
            status="failed",
            stop_reason=f"{type(error).__name__}: {error}",
            run_dir=run_dir,
            overrides=overrides,
            traceback="".join(traceback_module.format_exception(error)),
        )

    @classmethod
    def stopped_while_starting(cls, *, run_dir: Path, overrides: Sequence[str], reason: str) -> Summary:
        """The record of a run stopped by a signal before its first epoch (`reason` says which, and where)."""
        return cls._untrained(status="interrupted", stop_reason=reason, run_dir=run_dir, overrides=overrides)

    @classmethod
    def finished(cls, **fields: Any) -> Summary:
        """A run's final record (`dlbench.run.summary.make_summary` gives every field)."""
        return cls(**fields)

    def to_json(self, indent: int | None = 2) -> bytes:
        """The file's bytes: the fields this record was made with, in their order; NaN and infinity as
        the strings 'NaN' and 'Infinity' (JSON has neither)."""
        return self.model_dump_json(exclude_unset=True, indent=indent).encode() + b"\n"


def split_metrics(row: Mapping[str, float], splits: Sequence[str]) -> dict[str, Row]:
    """`{"train/loss": 1.0, "val/acc": 0.5}` -> `{"train": {"loss": 1.0}, "val": {"acc": 0.5}}`."""
    return {
        split: {key.split("/", 1)[1]: value for key, value in row.items() if key.startswith(split + "/")}
        for split in splits
    }


class SummaryError(ValueError):
    """A summary.json that cannot be read: named in one sentence."""


def load_summary(path: str | Path) -> Summary:
    """The summary at `path` (a run directory or the file itself), typed; SummaryError names a file
    that is missing, truncated or not a summary."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    try:
        return Summary.model_validate_json(path.read_bytes())
    except OSError as error:
        raise SummaryError(f"{path} cannot be read ({error.strerror or error}).") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "the file"
        raise SummaryError(f"{path} is cut short or damaged ({where}: {first.get('msg')}).") from error


def whole_summary(path: str | Path) -> Summary | None:
    """The summary at `path` when there is one that reads whole; None when it is missing or damaged
    (for the callers that then start afresh or look elsewhere, e.g. in metrics.csv)."""
    try:
        return load_summary(path)
    except SummaryError:
        return None


def write_summary(run_dir: str | Path, summary: Summary) -> Path:
    """Write `summary` as `run_dir/summary.json` by rename: a reader never sees half a file. On a full
    disk it is written without its indentation over the one already there, in its blocks, so it
    still ends final."""
    path = Path(run_dir) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return write_atomic(path, summary.to_json())
    except OSError as error:
        if disk_full(error) and overwrite_in_place(path, summary.to_json(indent=None)):
            return path
        raise


def summary_schema() -> dict[str, Any]:
    """summary.json's JSON Schema (the docs' run-directory page shows it; the tests check against it)."""
    return Summary.model_json_schema(mode="validation")


@functools.cache
def package_versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers of a run (once per process: every job of
    an in-process sweep has the same)."""
    found = {}
    for package in ("torch", "pytorch-lightning", "hydra-core", "torchmetrics", "dlbench"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


@functools.cache
def git_commit(directory: str | Path) -> str | None:
    """The project's commit (with '-dirty' for uncommitted changes), or None outside git; asked
    once per process, like the code it describes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def best_epoch(history: list[Row], monitor: str, mode: str) -> Row | None:
    """The epoch row with the best value of `monitor` (None if it was never measured)."""
    rows = [row for row in history if monitor in row and math.isfinite(row[monitor])]
    if not rows:
        return None
    pick = min if mode == "min" else max
    return pick(rows, key=lambda row: row[monitor])
