"""The comparison report of a sweep: one table row per job, and plots chosen for the swept key.

Built only from the files the jobs left behind (`summary.json`, and `.hydra/overrides.yaml` for
a job that died before it could write one), so it can be made again at any time with
`python -m dlbench.report <sweep dir>` and does not care which launcher ran the jobs.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlbench.config.sweep_plan import SweepPlan, read_plan
from dlbench.loggers.protocol import read_records
from dlbench.records.claim import is_live
from dlbench.records.liveness import effective_status
from dlbench.records.summary import SUMMARY_FILE, Summary, SummaryError, load_summary
from dlbench.reporting.markdown import code, text
from dlbench.reporting.seeds import SEED_KEYS, settings_of, write_setting_tables
from dlbench.terminal.wording import plural

TABLE_CSV = "report.csv"
TABLE_MARKDOWN = "report.md"
NOT_STARTED = "not started"


@dataclass
class Job:
    """One job of a sweep, as its run directory tells it."""

    number: int | str
    run_dir: Path
    overrides: dict[str, str]
    summary: Summary
    standalone: bool = False  # a single run's directory, not a job of a sweep
    problems: list[str] = field(default_factory=list)  # its files that are cut short or damaged, in sentences

    @property
    def status(self) -> str:
        return self.summary.status

    @property
    def history(self) -> list[dict[str, float]]:
        if "history" in self.summary.model_fields_set:
            return self.summary.history
        return _metrics_rows(self.run_dir)  # a run still going, or lost: its rows are in metrics.csv

    @property
    def loggers(self) -> dict[str, dict[str, Any]]:
        """Where each logger of this job keeps its records (`loggers.json`)."""
        return read_records(self.run_dir)

    def label(self, keys: list[str]) -> str:
        shown = [f"{key}={self.overrides.get(key, '-')}" for key in keys]
        return ", ".join(shown) if shown else f"job {self.number}"


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`["optimizer.lr=0.1", "+x=1"]` -> `{"optimizer.lr": "0.1", "x": "1"}`."""
    parsed = {}
    for override in overrides:
        key, _, value = override.partition("=")
        parsed[key.lstrip("+~")] = value
    return parsed


def _metrics_rows(run_dir: Path) -> list[dict[str, float]]:
    """The epoch rows of a run's metrics.csv (not the test row at the end), as numbers; a row cut
    short is left out."""
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="", errors="replace") as handle:
        return [
            {key: _number(value) for key, value in row.items() if value not in ("", None) and key is not None}
            for row in csv.DictReader(handle)
            if row.get("epoch") not in ("", None) and None not in row.values() and None not in row
        ]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def damaged_metrics(run_dir: Path) -> str | None:
    """Why a job's metrics.csv is cut short or damaged (a sentence), or None when it reads whole."""
    path = run_dir / "metrics.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    try:
        rows = list(csv.reader(data.decode().splitlines()))
    except (UnicodeDecodeError, csv.Error) as error:
        return f"{path} is damaged ({type(error).__name__}); its rows are left out of the plots"
    width = len(rows[0]) if rows else 0
    short = [number for number, row in enumerate(rows[1:], start=2) if row and len(row) != width]
    if not data.endswith(b"\n") or short:
        where = (
            f"line {short[0]} has {len(rows[short[0] - 1])} of {width} columns" if short else "its last line ends early"
        )
        return f"{path} is cut short ({where}: a write that did not finish); the rows before it are reported"
    return None


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
        summary, damaged = _job_summary(run_dir)
        problems = [problem for problem in (damaged, damaged_metrics(run_dir)) if problem]
        if "overrides" in summary.model_fields_set:
            overrides = summary.overrides
        else:
            overrides = _read_hydra_overrides(run_dir)
        status, reason = effective_status(run_dir, summary)
        if status != summary.status:
            summary = summary.model_copy(update={"status": status, "stop_reason": reason})
        number = _job_number(run_dir)
        jobs.append(Job(number, run_dir, parse_overrides(overrides), summary, run_dir == sweep_dir, problems))
    if plan is not None and plan.jobs is not None:
        present = {job.number for job in jobs}
        for number, overrides in enumerate(plan.jobs):
            if number not in present:
                summary = Summary(status=NOT_STARTED, stop_reason="the sweep stopped before this job started")
                jobs.append(Job(number, sweep_dir / str(number), parse_overrides(list(overrides)), summary))
        jobs.sort(key=lambda job: (not isinstance(job.number, int), job.number if isinstance(job.number, int) else 0))
    return jobs


def _job_summary(run_dir: Path) -> tuple[Summary, str | None]:
    """The job's summary and, when it cannot be read whole, a sentence saying so. A job without one,
    or with one cut short or damaged, is `failed`, with the reason as its stop reason."""
    if not (run_dir / SUMMARY_FILE).exists():
        if is_live(run_dir):  # a job starting on another worker (a Ray task): its process holds the directory
            return Summary(status="running", stop_reason="starting: its process holds the directory"), None
        reason = "no summary.json: the job ended before training started (see its log)"
        return Summary(status="failed", stop_reason=reason), None
    try:
        return load_summary(run_dir), None
    except SummaryError as error:
        reason = str(error).rstrip(".")
        summary = Summary(status="failed", stop_reason=f"{reason}; see the job's metrics.csv and train.log")
        return summary, f"{reason}; the job is reported as failed, the other jobs as they are"


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
        names = sorted({name for job in jobs for name in getattr(job.summary.metrics, split)})
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
    criterion = any(job.summary.criterion for job in jobs)  # criterion=within|all_correct
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
        best = summary.best
        row: dict[str, Any] = {"job": job.number, **{key: job.overrides.get(key, "") for key in keys}}
        row.update(
            status=job.status,
            stop_reason=summary.stop_reason or "",
            epochs_run=summary.epochs_run,
            best_epoch=best.epoch if best else "",
            best_metric=best.metric if best else "",
            best_value=best.value if best else "",
        )
        if criterion:
            reached = summary.epochs_to_criterion
            row["epochs_to_criterion"] = "not met" if reached is None else reached
        for column in metrics:
            value = summary.metrics.get(column)
            row[column] = "" if value is None else value
        for column in ("wall_time_s", "time_per_epoch_s", "samples_per_s", "effective_batch_size"):
            value = getattr(summary, column)
            row[column] = "" if value is None else value
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
    return text(value)


def write_tables(sweep_dir: Path, columns: list[str], rows: list[dict[str, Any]]) -> list[Path]:
    csv_path, markdown_path = sweep_dir / TABLE_CSV, sweep_dir / TABLE_MARKDOWN
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    shown = [column for column in columns if column != "run_dir" and column not in LOGGER_COLUMNS.values()]
    lines = [
        f"# Sweep report: {text(sweep_dir)}",
        "",
        f"{plural(len(rows), 'job')}; "
        + ", ".join(
            f"{status}: {sum(row['status'] == status for row in rows)}"
            for status in sorted({text(row["status"]) for row in rows})
        ),
        "",
        "| " + " | ".join(text(column) for column in shown) + " |",
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
        lines += [f"TensorBoard, every job side by side (HParams tab): {code(f'tensorboard --logdir {sweep_dir}')}", ""]
    parent = sweep_dir / "mlflow_parent.json"
    if parent.exists():
        saved = json.loads(parent.read_text())
        uri = saved["tracking_uri"]
        allow = "MLFLOW_ALLOW_FILE_STORE=true " if uri.startswith("file:") else ""
        lines += [
            f"MLflow: the jobs are nested under parent run {code(saved['run_id'])} in {code(uri)} "
            f"({code(f'{allow}mlflow ui --backend-store-uri {uri}')})",
            "",
        ]
    for row in rows:
        cells = [f"{titles[name]} {code(row[column])}" for name, column in used if row.get(column)]
        lines.append(f"- job {text(row['job'])}: " + (" · ".join(cells) if cells else "no logger records"))
    return lines


Section = Callable[[Path, list[Job]], list[Path]]


def write_report(sweep_dir: str | Path, sections: Sequence[Section] = ()) -> list[Path]:
    """Write `report.csv`, `report.md` and the PNG plots into `sweep_dir`; return their paths.
    Each of `sections` then adds its part (the experiments' verdict: `dlbench.report.write_sweep_report`).

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
    problems = [f"- job {text(job.number)}: {text(problem)}" for job in jobs for problem in job.problems]
    if problems:
        with (sweep_dir / TABLE_MARKDOWN).open("a") as handle:
            handle.write("\n".join(["", "## Damaged records", "", *problems]) + "\n")
    ran = [job for job in jobs if job.status != NOT_STARTED]  # a stopped sweep: the jobs it never started
    keys = swept_keys(jobs, plan)
    settings = settings_of(ran, keys)  # None unless some setting ran with several seeds (seeds=N)
    if settings is not None:
        written += write_setting_tables(sweep_dir, settings, _metric_columns(ran), ran, sweep_dir / TABLE_MARKDOWN)
        keys = [key for key in keys if key not in SEED_KEYS]
    if ran:
        written += write_plots(sweep_dir, ran, keys, settings)
    for section in sections:
        written += section(sweep_dir, jobs)
    return written
