"""A sweep's settings over their seeds: mean, spread and whether two settings can be told apart.

A *setting* is a set of jobs whose overrides are equal apart from `seed` (and `seeds`, the count
that made them): the same configuration run with several seeds (`python train.py -m ... seeds=5`).
When at least one setting ran with more than one seed, the comparison report adds, per setting,
the mean, the standard deviation (sample, n - 1), the minimum and the maximum over its seeds of
the best monitored value and of the final metrics (`report_by_setting.csv` and a section of
`report.md`), draws each setting's validation curve as its mean with bands (plus or minus one
standard deviation, and the min-max range), and says for every two settings whether their
mean +- std intervals of the best monitored value overlap: if they do, the seeds do not tell the
two settings apart.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbench.reporting.markdown import text as escaped
from dlbench.terminal.wording import plural

if TYPE_CHECKING:
    from dlbench.reporting.comparison import Job

SEED_KEYS = ("seed", "seeds")
BY_SETTING_CSV = "report_by_setting.csv"


@dataclass
class Setting:
    """One configuration of the sweep and the jobs that ran it, one per seed."""

    values: dict[str, str]
    jobs: list[Job] = field(default_factory=list)

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.values.items()) or "all jobs"

    @property
    def seeds(self) -> list[str]:
        return [job.overrides.get("seed", str(job.summary.seed)) for job in self.jobs]


@dataclass
class Spread:
    """Mean, standard deviation (n - 1), minimum and maximum of the finite values, and their count."""

    n: int
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        finite = [value for value in values if isinstance(value, (int, float)) and math.isfinite(value)]
        if not finite:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return cls(len(finite), statistics.fmean(finite), std, min(finite), max(finite))

    def interval(self) -> tuple[float, float]:
        return self.mean - self.std, self.mean + self.std

    def overlaps(self, other: Spread) -> bool:
        low, high = self.interval()
        other_low, other_high = other.interval()
        return self.n > 0 and other.n > 0 and low <= other_high and other_low <= high

    def text(self) -> str:
        if self.n == 0:
            return "-"
        return f"{self.mean:.4g} ± {self.std:.2g} [{self.min:.4g}, {self.max:.4g}]"


def settings_of(jobs: list[Job], keys: list[str]) -> list[Setting] | None:
    """The jobs grouped by their swept values apart from the seed (in job order), or None when no
    setting ran with more than one seed (a sweep without `seeds`)."""
    settings = group_by(jobs, [key for key in keys if key not in SEED_KEYS])
    if all(len({job.overrides.get("seed") for job in setting.jobs}) < 2 for setting in settings):
        return None
    return settings


def group_by(jobs: list[Job], keys: list[str]) -> list[Setting]:
    """The jobs grouped by their values of `keys` (a key a job does not set reads "-"), in job order."""
    settings: dict[tuple[str, ...], Setting] = {}
    for job in jobs:
        values = {key: job.overrides.get(key, "-") for key in keys}
        settings.setdefault(tuple(values.values()), Setting(values)).jobs.append(job)
    return list(settings.values())


def best_values(setting: Setting) -> list[float]:
    return [job.summary.best.value if job.summary.best else math.nan for job in setting.jobs]


def metric_values(setting: Setting, column: str) -> list[float]:
    values = [job.summary.metrics.get(column) for job in setting.jobs]
    return [math.nan if value is None else value for value in values]


def criterion_values(setting: Setting) -> list[float]:
    """Each seed's `epochs_to_criterion` (NaN where it never reached the criterion)."""
    return [
        math.nan if job.summary.epochs_to_criterion is None else job.summary.epochs_to_criterion for job in setting.jobs
    ]


def has_criterion(settings: list[Setting]) -> bool:
    """True when the sweep trained to a criterion (criterion=within, all_correct): some job says so."""
    return any(
        job.summary.criterion or job.summary.epochs_to_criterion is not None
        for setting in settings
        for job in setting.jobs
    )


def monitor_of(jobs: list[Job]) -> tuple[str, str]:
    """The monitored metric and its mode ('min' or 'max') the jobs were run with."""
    for job in jobs:
        config = job.summary.config
        metric = job.summary.best.metric if job.summary.best else config.get("monitor")
        if metric:
            return str(metric), str(config.get("monitor_mode", "min"))
    return "val/loss", "min"


def by_setting(settings: list[Setting], metrics: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per setting: its swept values, seeds, and mean/std/min/max of the best monitored
    value and of each final metric; `overlaps` lists the settings whose best-value intervals
    (mean +- std) overlap this one's."""
    keys = list(settings[0].values) if settings else []
    spreads = [Spread.of(best_values(setting)) for setting in settings]
    columns = [*keys, "seeds", "completed"]
    criterion = has_criterion(settings)
    for name in ["best_value", *metrics, *(["epochs_to_criterion"] if criterion else [])]:
        columns += [f"{name}_mean", f"{name}_std", f"{name}_min", f"{name}_max"]
    columns.append("overlaps")
    rows = []
    for setting, spread in zip(settings, spreads, strict=True):
        row: dict[str, Any] = dict(setting.values)
        row["seeds"] = " ".join(setting.seeds)
        row["completed"] = sum(job.status == "completed" for job in setting.jobs)
        named = [("best_value", best_values(setting)), *((m, metric_values(setting, m)) for m in metrics)]
        if criterion:
            named.append(("epochs_to_criterion", criterion_values(setting)))
        for name, values in named:
            stats = Spread.of(values)
            row.update({f"{name}_mean": stats.mean, f"{name}_std": stats.std})
            row.update({f"{name}_min": stats.min, f"{name}_max": stats.max})
        pairs = zip(settings, spreads, strict=True)
        row["overlaps"] = "; ".join(other.label for other, s in pairs if other is not setting and spread.overlaps(s))
        rows.append(row)
    return columns, rows


def overlap_sentences(settings: list[Setting], monitor: str, mode: str) -> list[str]:
    """Settings ranked by their mean best value, and for each neighbouring pair whether their
    mean +- std intervals overlap (the seeds cannot tell them apart) or not."""
    ranked = sorted(
        ((setting, Spread.of(best_values(setting))) for setting in settings),
        key=lambda item: (item[1].n == 0, item[1].mean if mode == "min" else -item[1].mean),
    )
    lines = []
    for (first, a), (second, b) in zip(ranked, ranked[1:], strict=False):
        if a.n == 0 or b.n == 0:
            continue
        verdict = (
            "overlap: with these seeds the two cannot be told apart"
            if a.overlaps(b)
            else "do not overlap: the difference is larger than the seed-to-seed spread"
        )
        lines.append(
            f"- {escaped(first.label)} ({a.mean:.4g} ± {a.std:.2g}) and "
            f"{escaped(second.label)} ({b.mean:.4g} ± {b.std:.2g}): "
            f"best {escaped(monitor)} intervals (mean ± std over {a.n} and {plural(b.n, 'seed')}) {verdict}."
        )
    return lines


def markdown(settings: list[Setting], metrics: list[str], monitor: str, mode: str) -> list[str]:
    """The report.md section: one row per setting, then the overlap sentences."""
    criterion = has_criterion(settings)
    columns = [f"best {monitor}", *metrics, *(["epochs to criterion (seeds that reached it)"] if criterion else [])]
    lines = [
        "",
        "## Over seeds",
        "",
        f"{plural(len(settings), 'setting')}; each cell is mean ± std [min, max] over the setting's seeds "
        f"(table: {BY_SETTING_CSV}).",
        "",
        "| setting | seeds | " + " | ".join(escaped(column) for column in columns) + " |",
        "| --- | --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for setting in settings:
        cells = [Spread.of(best_values(setting)).text()]
        cells += [Spread.of(metric_values(setting, metric)).text() for metric in metrics]
        if criterion:
            reached = Spread.of(criterion_values(setting))
            cells.append(f"{reached.text() if reached.n else '-'} ({reached.n} of {len(setting.jobs)})")
        lines.append(f"| {escaped(setting.label)} | {len(setting.jobs)} | " + " | ".join(cells) + " |")
    sentences = overlap_sentences(settings, monitor, mode)
    if sentences:
        lines += [
            "",
            f"Ranked by mean best {escaped(monitor)} ({'lower' if mode == 'min' else 'higher'} is better):",
            "",
        ]
        lines += sentences
    return lines


def write_setting_tables(
    sweep_dir: Path, settings: list[Setting], metrics: list[str], jobs: list[Job], report_md: Path
) -> list[Path]:
    """`report_by_setting.csv`, and the 'Over seeds' section appended to `report_md` (report.md)."""

    columns, rows = by_setting(settings, metrics)
    path = sweep_dir / BY_SETTING_CSV
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    monitor, mode = monitor_of(jobs)
    shown = [metric for metric in metrics if metric.startswith(("val/", "test/"))]
    with report_md.open("a") as handle:
        handle.write("\n".join(markdown(settings, shown, monitor, mode)) + "\n")
    return [path]
