"""The short table a run ends with on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dlbench.records.summary import Summary


def print_run_table(summary: Summary, console: Console | None = None) -> None:
    """Status, final metrics and where the run directory is. Text from the run (an error message,
    a directory named after `regularizer=[l2,dropout]`) is escaped: rich reads `[...]` as markup."""
    console = console or Console()
    table = Table(title=f"dlbench run: {summary.status}", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("train", "val", "test"):
        for name, value in sorted(getattr(summary.metrics, key).items()):
            table.add_row(f"{key}/{name}", f"{value:.4f}" if isinstance(value, float) else str(value))
    if summary.best_epoch is not None:
        table.add_row("best epoch", str(summary.best_epoch))
    table.add_row("epochs run", str(summary.epochs_run))
    table.add_row("wall time (s)", f"{summary.wall_time_s or 0:.1f}")
    if summary.stop_reason:
        table.add_row("stopped because", escape(summary.stop_reason))
    console.print(table)
    console.print(f"run directory: {escape(str(summary.run_dir))}")


def print_sweep_table(jobs: list[Any], keys: list[str], title: str, console: Console | None = None) -> None:
    """One row per job of a sweep: its number, swept values, status and best monitored value.

    `jobs` are `dlbench.reporting.comparison.Job`s; a diverged job is a result (that setting
    diverges), a failed or lost one is not (see `sweep_exit_status`)."""
    console = console or Console()
    table = Table(title=escape(title), show_header=True, header_style="bold")
    table.add_column("job", justify="right")
    for key in keys:
        table.add_column(escape(key))
    table.add_column("status")
    table.add_column("best", justify="right")
    table.add_column("epochs", justify="right")
    for job in jobs:
        best = job.summary.best
        shown = f"{best.metric} {best.value:.4g} (epoch {best.epoch})" if best else ""
        values = [escape(str(job.overrides.get(key, ""))) for key in keys]
        status = (
            job.status
            if job.status in ("completed", "diverged", "running", "not started")
            else f"[bold red]{job.status}[/]"
        )
        table.add_row(str(job.number), *values, status, shown, str(job.summary.epochs_run))
    console.print(table)
