"""The comparison report, checked against the jobs' own summaries from a real multirun."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from dlbench.reporting.comparison import write_report
from helpers import ROOT, run_cli

# the tests that read the sweep_dir fixture run on one xdist worker, so its run is made once
# (a module-scoped fixture was made again on each worker the module's tests were spread over)
SHARED = pytest.mark.xdist_group("report")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Early stopping as Lightning's own callback, added from the command line: patience 1 with a
# large min_delta stops after two epochs, patience 50 never does.
EARLY_STOPPING = (
    "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
    "+callbacks.early_stopping.monitor=val/loss",
    "+callbacks.early_stopping.min_delta=0.5",
)


@pytest.fixture(scope="session")  # with SHARED: made once, on one worker
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-job sweep over batch size (one of them full batch) and early-stopping patience."""
    directory = tmp_path_factory.mktemp("report") / "sweep"
    result = run_cli(
        "-m",
        "dataset.batch_size=16,full",
        *EARLY_STOPPING,
        "+callbacks.early_stopping.patience=1,50",
        "trainer.max_epochs=4",
        f"hydra.sweep.dir={directory}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def assert_close(cell: str, value: object) -> None:
    assert float(cell) == pytest.approx(float(value), rel=1e-9), (cell, value)


@SHARED
def test_table_has_one_row_per_job_matching_its_summary(sweep_dir: Path) -> None:
    rows = read_csv(sweep_dir / "report.csv")
    assert len(rows) == 4
    for row in rows:
        summary = json.loads((sweep_dir / row["job"] / "summary.json").read_text())
        overrides = dict(override.lstrip("+").split("=", 1) for override in summary["overrides"])
        assert row["dataset.batch_size"] == overrides["dataset.batch_size"]
        assert row["callbacks.early_stopping.patience"] == overrides["callbacks.early_stopping.patience"]
        assert row["status"] == summary["status"] == "completed"
        assert row["stop_reason"] == summary["stop_reason"]
        assert int(row["epochs_run"]) == summary["epochs_run"]
        assert int(row["best_epoch"]) == summary["best"]["epoch"]
        assert_close(row["best_value"], summary["best"]["value"])
        for column in ("val/loss", "val/acc", "train/loss", "test/acc"):
            split, name = column.split("/")
            assert_close(row[column], summary["metrics"][split][name])
        for column in ("wall_time_s", "time_per_epoch_s", "samples_per_s", "effective_batch_size"):
            assert_close(row[column], summary[column])
    # The swept values really changed what happened: patience 1 stopped early, patience 50 did not.
    stopped = {row["callbacks.early_stopping.patience"]: row["stop_reason"] for row in rows}
    assert stopped["1"].startswith("early stopping")
    assert stopped["50"] == "reached max_epochs=4"
    assert {row["effective_batch_size"] for row in rows if row["dataset.batch_size"] == "full"} == {"96"}


@SHARED
def test_markdown_table_lists_the_same_jobs(sweep_dir: Path) -> None:
    markdown = (sweep_dir / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:4] == ["job", "dataset.batch_size", "callbacks.early_stopping.patience", "status"]
    assert [line.split("|")[1].strip() for line in table[1:]] == [
        row["job"] for row in read_csv(sweep_dir / "report.csv")
    ]
    assert "4 jobs; completed: 4" in markdown


@pytest.mark.parametrize(
    "name",
    [
        "val_curves.png",
        "final_vs_dataset_batch_size.png",
        "final_vs_callbacks_early_stopping_patience.png",
        "batch_size_timing.png",
        "early_stopping_curves.png",
        "generalization_gap.png",
    ],
)
@SHARED
def test_each_plot_is_a_non_blank_png(sweep_dir: Path, name: str) -> None:
    path = sweep_dir / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)[..., :3]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    # Not one flat colour: axes, lines and labels were drawn, and more than a few pixels of them.
    assert np.mean(np.any(pixels != pixels[0, 0], axis=-1)) > 0.01


@SHARED
def test_report_is_made_again_from_the_files(sweep_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    for path in [*copy.glob("*.png"), *copy.glob("report.*")]:
        path.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(copy)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    written = {
        Path(line).name for line in result.stdout.splitlines() if line.startswith(str(copy)) and Path(line).is_file()
    }
    assert written == {path.name for path in [*sweep_dir.glob("*.png"), *sweep_dir.glob("report.*")]}
    original = [
        {key: value for key, value in row.items() if key != "run_dir"} for row in read_csv(sweep_dir / "report.csv")
    ]
    again = [{key: value for key, value in row.items() if key != "run_dir"} for row in read_csv(copy / "report.csv")]
    assert again == original


@SHARED
def test_a_job_without_a_summary_is_reported_as_failed(sweep_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    (copy / "2" / "summary.json").unlink()  # as when a cluster job is killed before it ends
    write_report(copy)
    rows = {row["job"]: row for row in read_csv(copy / "report.csv")}
    assert rows["2"]["status"] == "failed"
    assert "no summary.json" in rows["2"]["stop_reason"]
    assert rows["2"]["dataset.batch_size"] == "full"  # read from the job's .hydra/overrides.yaml
    assert [rows[job]["status"] for job in ("0", "1", "3")] == ["completed"] * 3


def test_a_directory_without_jobs_is_refused_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
