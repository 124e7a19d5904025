"""The comparison report of a sweep: one table row per job, and plots chosen for the swept key.

Built only from the files the jobs left behind (`summary.json`, and `.hydra/overrides.yaml` for
a job that died before it could write one), so it can be made again at any time with
`python -m dlbench.report <sweep dir>` and does not care which launcher ran the jobs.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbench.loggers.protocol import read_records
from dlbench.reporting.liveness import effective_status
from dlbench.reporting.seeds import SEED_KEYS, settings_of, write_setting_tables
from dlbench.reporting.summary import SUMMARY_FILE
from dlbench.reporting.sweep_plan import SweepPlan, read_plan
from dlbench.wording import plural

TABLE_CSV = "report.csv"
TABLE_MARKDOWN = "report.md"
NOT_STARTED = "not started"


@dataclass
class Job:
    """One job of a sweep, as its run directory tells it."""

    number: int | str
    run_dir: Path
    overrides: dict[str, str]
    summary: dict[str, Any] = field(default_factory=dict)
    standalone: bool = False  # a single run's directory, not a job of a sweep

    @property
    def status(self) -> str:
        return self.summary.get("status", "failed")

    @property
    def history(self) -> list[dict[str, float]]:
        rows = self.summary.get("history")
        if not isinstance(rows, list):  # a run still going, or lost: its rows are in metrics.csv
            rows = _metrics_rows(self.run_dir)
        return [{key: to_float(value) for key, value in row.items()} for row in rows]

    @property
    def loggers(self) -> dict[str, dict[str, Any]]:
        """Where each logger of this job keeps its records (`loggers.json`)."""
        return read_records(self.run_dir)

    def label(self, keys: list[str]) -> str:
        shown = [f"{key}={self.overrides.get(key, '-')}" for key in keys]
        return ", ".join(shown) if shown else f"job {self.number}"


def to_float(value: Any) -> float:
    """Numbers as floats; `summary.json` writes NaN and infinity as strings ('nan', 'inf')."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`["optimizer.lr=0.1", "+x=1"]` -> `{"optimizer.lr": "0.1", "x": "1"}`."""
    parsed = {}
    for override in overrides:
        key, _, value = override.partition("=")
        parsed[key.lstrip("+~")] = value
    return parsed


def _metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    """The epoch rows of a run's metrics.csv (not the test row at the end)."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [
            {key: value for key, value in row.items() if value not in ("", None)}
            for row in csv.DictReader(handle)
            if row.get("epoch") not in ("", None)
        ]


def _job_number(run_dir: Path) -> int | str:
    return int(run_dir.name) if run_dir.name.isdigit() else run_dir.name


def find_jobs(sweep_dir: str | Path, plan: SweepPlan | None = None) -> list[Job]:
    """Every job of the sweep, in job order: each job directory, with or without a summary, and
    each job of the sweep's plan that has no directory (`not started`). A run directory given
    instead of a sweep's is reported as its one job. A `running` job whose process is gone is
    `lost` (see `liveness`)."""
    sweep_dir = Path(sweep_dir)
    run_dirs = {path.parent for path in sweep_dir.glob(f"*/{SUMMARY_FILE}")}
    run_dirs |= {path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")}
    if not run_dirs and (sweep_dir / SUMMARY_FILE).is_file():
        run_dirs = {sweep_dir}
    jobs = []
    for run_dir in sorted(
        run_dirs, key=lambda path: (not path.name.isdigit(), int(path.name) if path.name.isdigit() else 0, path.name)
    ):
        summary_path = run_dir / SUMMARY_FILE
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        if summary.get("overrides") is not None:
            overrides = list(summary["overrides"])
        else:
            overrides = _read_hydra_overrides(run_dir)
        if not summary:
            summary = {
                "status": "failed",
                "stop_reason": "no summary.json: the job ended before training started (see its log)",
            }
        status, reason = effective_status(run_dir, summary)
        if status != summary.get("status"):
            summary = {**summary, "status": status, "stop_reason": reason}
        jobs.append(Job(_job_number(run_dir), run_dir, parse_overrides(overrides), summary, run_dir == sweep_dir))
    if plan is not None and plan.jobs is not None:
        present = {job.number for job in jobs}
        for number, overrides in enumerate(plan.jobs):
            if number not in present:
                summary = {"status": NOT_STARTED, "stop_reason": "the sweep stopped before this job started"}
                jobs.append(Job(number, sweep_dir / str(number), parse_overrides(list(overrides)), summary))
        jobs.sort(key=lambda job: (not isinstance(job.number, int), job.number if isinstance(job.number, int) else 0))
    return jobs


def _read_hydra_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    from omegaconf import OmegaConf

    return [str(item) for item in OmegaConf.load(path)]


def swept_keys(jobs: list[Job], plan: SweepPlan | None = None) -> list[str]:
    """The keys the sweep's command sweeps, where its plan is known; otherwise the override keys
    whose value differs between jobs (all of a lone job's keys); none for a single run's directory."""
    if plan is not None and plan.swept:
        return list(plan.swept)
    if len(jobs) == 1 and jobs[0].standalone:
        return []
    keys: list[str] = []
    for job in jobs:
        keys += [key for key in job.overrides if key not in keys]
    if len(jobs) < 2:
        return [key for key in keys if key not in ("sweep", "hparams_search")]
    return [key for key in keys if len({job.overrides.get(key) for job in jobs}) > 1]


def _metric_columns(jobs: list[Job]) -> list[str]:
    columns: list[str] = []
    for split in ("train", "val", "test"):
        names = sorted({name for job in jobs for name in ((job.summary.get("metrics") or {}).get(split) or {})})
        columns += [f"{split}/{name}" for name in names]
    return columns


LOGGER_COLUMNS = {"tensorboard": "tensorboard_dir", "mlflow": "mlflow_run", "wandb": "wandb_run"}


def logger_cell(name: str, record: dict[str, Any]) -> str:
    """How the report names a job's run in one logger: a link where there is one, else its id or directory."""
    if name == "tensorboard":
        return str(record.get("log_dir", ""))
    if name == "mlflow":
        return str(record.get("link") or record.get("run_id") or "")
    if name == "wandb":
        return str(record.get("url") or record.get("sync_dir") or record.get("run_id") or "")
    return ""


def _logger_columns(jobs: list[Job]) -> list[str]:
    used = {name for job in jobs for name in job.loggers}
    return [column for name, column in LOGGER_COLUMNS.items() if name in used]


def table_rows(jobs: list[Job], plan: SweepPlan | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """The report's columns and one row per job: swept values, metrics, timing, status, runs in the loggers."""
    keys = swept_keys(jobs, plan)
    metrics = _metric_columns(jobs)
    logger_columns = _logger_columns(jobs)
    criterion = any(job.summary.get("criterion") for job in jobs)  # criterion=within|all_correct
    columns = [
        "job",
        *keys,
        "status",
        "stop_reason",
        "epochs_run",
        *(["epochs_to_criterion"] if criterion else []),
        "best_epoch",
        "best_metric",
        "best_value",
        *metrics,
        "wall_time_s",
        "time_per_epoch_s",
        "samples_per_s",
        "effective_batch_size",
        "run_dir",
        *logger_columns,
    ]
    rows = []
    for job in jobs:
        summary = job.summary
        best = summary.get("best") or {}
        row: dict[str, Any] = {"job": job.number, **{key: job.overrides.get(key, "") for key in keys}}
        row.update(
            status=job.status,
            stop_reason=summary.get("stop_reason") or "",
            epochs_run=summary.get("epochs_run", 0),
            best_epoch=best.get("epoch", ""),
            best_metric=best.get("metric", ""),
            best_value=best.get("value", ""),
        )
        if criterion:
            reached = summary.get("epochs_to_criterion")
            row["epochs_to_criterion"] = "not met" if reached is None else reached
        for column in metrics:
            split, name = column.split("/", 1)
            row[column] = ((summary.get("metrics") or {}).get(split) or {}).get(name, "")
        for column in ("wall_time_s", "time_per_epoch_s", "samples_per_s", "effective_batch_size"):
            row[column] = summary.get(column, "")
        row["run_dir"] = str(job.run_dir)
        records = job.loggers
        for name, column in LOGGER_COLUMNS.items():
            if column in logger_columns:
                row[column] = logger_cell(name, records.get(name) or {})
        rows.append(row)
    return columns, rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_tables(sweep_dir: Path, columns: list[str], rows: list[dict[str, Any]]) -> list[Path]:
    csv_path, markdown_path = sweep_dir / TABLE_CSV, sweep_dir / TABLE_MARKDOWN
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    shown = [column for column in columns if column != "run_dir" and column not in LOGGER_COLUMNS.values()]
    lines = [
        f"# Sweep report: {sweep_dir}",
        "",
        f"{plural(len(rows), 'job')}; "
        + ", ".join(
            f"{status}: {sum(row['status'] == status for row in rows)}"
            for status in sorted({row["status"] for row in rows})
        ),
        "",
        "| " + " | ".join(shown) + " |",
        "| " + " | ".join("---" for _ in shown) + " |",
    ]
    lines += ["| " + " | ".join(_cell(row[column]) for column in shown) + " |" for row in rows]
    lines += logger_lines(sweep_dir, columns, rows)
    markdown_path.write_text("\n".join(lines) + "\n")
    return [csv_path, markdown_path]


def logger_lines(sweep_dir: Path, columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """report.md's section naming each job's run in every logger the sweep used (none: no lines)."""
    used = [(name, column) for name, column in LOGGER_COLUMNS.items() if column in columns]
    if not used:
        return []
    titles = {"tensorboard": "TensorBoard", "mlflow": "MLflow", "wandb": "W&B"}
    lines = ["", "## Runs in the loggers", ""]
    if any(name == "tensorboard" for name, _ in used):
        lines += [f"TensorBoard, every job side by side (HParams tab): `tensorboard --logdir {sweep_dir}`", ""]
    parent = sweep_dir / "mlflow_parent.json"
    if parent.exists():
        saved = json.loads(parent.read_text())
        uri = saved["tracking_uri"]
        allow = "MLFLOW_ALLOW_FILE_STORE=true " if uri.startswith("file:") else ""
        lines += [
            f"MLflow: the jobs are nested under parent run `{saved['run_id']}` in `{uri}` "
            f"(`{allow}mlflow ui --backend-store-uri {uri}`)",
            "",
        ]
    for row in rows:
        cells = [f"{titles[name]} `{row[column]}`" for name, column in used if row.get(column)]
        lines.append(f"- job {row['job']}: " + (" · ".join(cells) if cells else "no logger records"))
    return lines


def write_report(sweep_dir: str | Path) -> list[Path]:
    """Write `report.csv`, `report.md` and the PNG plots into `sweep_dir`; return their paths.

    Raises FileNotFoundError when the directory holds no job of a sweep.
    """
    from dlbench.reporting.plots import write_plots

    sweep_dir = Path(sweep_dir)
    plan = read_plan(sweep_dir)
    jobs = find_jobs(sweep_dir, plan)
    if not jobs:
        raise FileNotFoundError(
            f"{sweep_dir} holds no job directories with a {SUMMARY_FILE}; give the sweep directory of a "
            "multirun (multirun/<date>/<time>) or a run directory."
        )
    columns, rows = table_rows(jobs, plan)
    written = write_tables(sweep_dir, columns, rows)
    ran = [job for job in jobs if job.status != NOT_STARTED]  # a stopped sweep: the jobs it never started
    keys = swept_keys(jobs, plan)
    settings = settings_of(ran, keys)  # None unless some setting ran with several seeds (seeds=N)
    if settings is not None:
        written += write_setting_tables(sweep_dir, settings, _metric_columns(ran), ran)
        keys = [key for key in keys if key not in SEED_KEYS]
    if ran:
        written += write_plots(sweep_dir, ran, keys, settings)
    from dlbench.experiments.report import write_experiment_section

    written += write_experiment_section(sweep_dir, jobs)  # a sweep of experiment=<name>: its claim's verdict
    return written
