"""The comparison report is text, not markup, and is still written when a job's files are cut short.

Both read a real two-job multirun whose override value is a `<script>` element and whose sweep
directory is named like an `<img onerror=...>` element.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import markdown
import pytest

from dlbench.reporting.markdown import code
from helpers import ROOT, damaged, run_cli

# the tests that read the sweep_dir fixture run on one xdist worker, so its run is made once
# (a module-scoped fixture was made again on each worker the module's tests were spread over)
SHARED = pytest.mark.xdist_group("report_robust")

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")  # with SHARED: made once, on one worker
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("report") / IMAGE
    result = run_cli(
        "-m",
        f'+paths.note="{SCRIPT}",plain',
        f'hydra.sweep.dir="{directory}"',
        "trainer.max_epochs=2",
        "callbacks.pictures.enabled=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory


@SHARED
def test_values_from_a_user_are_text_in_the_report(sweep_dir: Path) -> None:
    report = (sweep_dir / "report.md").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report and "&lt;img src=x" in report, report
    rendered = markdown.markdown(report, extensions=["tables"])
    assert "<script" not in rendered and "<img" not in rendered, rendered
    assert "&lt;script&gt;" in rendered  # shown to the reader as the characters typed


def test_a_code_span_holds_any_backticks() -> None:
    assert code("plain") == "`plain`"
    shown = code("a`b``c")
    rendered = markdown.markdown(shown)
    assert rendered == "<p><code>a`b``c</code></p>", rendered


@SHARED
def test_a_truncated_summary_and_metrics_are_named_and_the_report_is_written(sweep_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    for path in [*copy.glob("*.png"), *copy.glob("report.*")]:
        path.unlink()
    summary = copy / "0" / "summary.json"
    damaged(summary).write_bytes(summary.read_bytes()[: summary.stat().st_size // 2])
    metrics = copy / "1" / "metrics.csv"
    metrics.write_bytes(metrics.read_bytes()[:-7])  # the last row cut in the middle
    result = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(copy)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2, result.stderr
    assert f"{summary} is cut short or damaged" in warnings[0] and warnings[0].count(". ") == 0
    assert f"{metrics} is cut short" in warnings[1]
    report = (copy / "report.md").read_text()
    assert "## Damaged records" in report and report.count("| completed |") == 1 and "| failed |" in report
    assert (copy / "report.csv").exists() and list(copy.glob("*.png")), "the rest of the report is written"
