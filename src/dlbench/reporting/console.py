"""The short table a run ends with on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def print_run_table(summary: dict[str, Any], console: Console | None = None) -> None:
    """Status, final metrics and where the run directory is. Text from the run (an error message,
    a directory named after `regularizer=[l2,dropout]`) is escaped: rich reads `[...]` as markup."""
    console = console or Console()
    table = Table(title=f"dlbench run: {summary['status']}", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("train", "val", "test"):
        for name, value in sorted((summary.get("metrics", {}).get(key) or {}).items()):
            table.add_row(f"{key}/{name}", f"{value:.4f}" if isinstance(value, float) else str(value))
    if summary.get("best_epoch") is not None:
        table.add_row("best epoch", str(summary["best_epoch"]))
    table.add_row("epochs run", str(summary.get("epochs_run")))
    table.add_row("wall time (s)", f"{summary.get('wall_time_s', 0):.1f}")
    if summary.get("stop_reason"):
        table.add_row("stopped because", escape(str(summary["stop_reason"])))
    console.print(table)
    console.print(f"run directory: {escape(str(summary['run_dir']))}")
