"""A run's record survives a hard kill, and a run directory belongs to one run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlbench.run import train
from helpers import ROOT, run_cli, start_cli

QUIET = ("callbacks.pictures.enabled=false",)


def _start(run_dir: Path, *overrides: str) -> subprocess.Popen:
    return start_cli(f"hydra.run.dir={run_dir}", *QUIET, *overrides)


def _epoch_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("train/loss")]


def _wait_for_rows(run_dir: Path, process: subprocess.Popen, rows: int, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while len(_epoch_rows(run_dir)) < rows:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, "the run never got going"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_leaves_its_record_is_reported_lost_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = _start(run_dir, "trainer.max_epochs=100000")
    _wait_for_rows(run_dir, process, 4)
    process.kill()  # SIGKILL: no handler, no finally, no atexit
    process.communicate(timeout=60)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "running"
    rows = _epoch_rows(run_dir)
    # metrics.csv holds every epoch the summary counts (and at most the one being recorded when killed)
    assert summary["epochs_run"] <= len(rows) <= summary["epochs_run"] + 1
    assert [float(row["epoch"]) for row in rows] == list(range(len(rows)))
    last = summary["last_checkpoint"]
    assert last["path"] == str(run_dir / "checkpoints" / "last.ckpt") and Path(last["path"]).is_file()

    report = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(run_dir)], cwd=ROOT, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr
    assert "lost" in report.stdout and f"ckpt_path={last['path']}" in report.stdout.replace("\n", "")
    with (run_dir / "report.csv").open() as handle:
        assert next(csv.DictReader(handle))["status"] == "lost"

    # resumed into its own directory from its own last.ckpt: the whole run, each epoch once
    total = len(rows) + 2
    result = run_cli(f"hydra.run.dir={run_dir}", *QUIET, f"ckpt_path={last['path']}", f"trainer.max_epochs={total}")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads((run_dir / "summary.json").read_text())
    assert resumed["status"] == "completed"
    assert [row["epoch"] for row in resumed["history"]] == list(range(total))
    assert [float(row["epoch"]) for row in _epoch_rows(run_dir)] == list(range(total))


def _watch_running_summaries(monkeypatch) -> list[tuple[int, int, int, dict]]:
    """Every running summary written: (epochs in it, its bytes, rows in metrics.csv then, the summary)."""
    import dlbench.callbacks.run_record as run_record

    seen: list[tuple[int, int, int, dict]] = []
    original = run_record._InPlaceJSON.write

    def watching(self, summary):
        original(self, summary)
        on_disk = json.loads(self.path.read_text())
        assert on_disk["status"] == "running" and on_disk["epochs_run"] == summary.epochs_run
        seen.append((summary.epochs_run, self.path.stat().st_size, len(_epoch_rows(self.path.parent)), on_disk))

    monkeypatch.setattr(run_record._InPlaceJSON, "write", watching)
    return seen


def test_the_running_summary_is_written_every_epoch_and_does_not_grow_with_the_run(
    make_cfg, monkeypatch, tmp_path: Path
) -> None:
    """With no time between writes: after every epoch, the epoch's row in metrics.csv on disk and a
    `running` summary.json of the same small size (the history is not repeated in it: 2,000 epochs
    must not write O(n^2) JSON)."""
    import dlbench.callbacks.run_record as run_record

    monkeypatch.setattr(run_record, "EVERY_S", 0.0)
    watched = _watch_running_summaries(monkeypatch)
    train(make_cfg("trainer.max_epochs=30", *QUIET))
    seen = [entry[:3] for entry in watched]
    assert [epochs for epochs, _, _ in seen] == list(range(31)), "one running summary at the start and per epoch"
    assert all(rows == epochs for epochs, _, rows in seen), "each epoch's row is on disk when its summary is"
    sizes = [size for epochs, size, _ in seen if epochs]
    assert max(sizes) < 1.2 * min(sizes), sizes
    final = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert final["status"] == "completed" and len(final["history"]) == 30


def test_the_running_summary_keeps_up_with_every_checkpoint_and_the_clock_not_every_epoch(
    make_cfg, monkeypatch, tmp_path: Path
) -> None:
    """Written a second apart at most (here never due by the clock), and at every epoch whose end
    wrote a checkpoint file: what is on disk never lags the `last.ckpt` a resume starts from, and a
    fast run does not pay a summary and a CSV write per epoch."""
    import dlbench.callbacks.run_record as run_record

    monkeypatch.setattr(run_record, "EVERY_S", 3600.0)
    seen = _watch_running_summaries(monkeypatch)
    train(make_cfg("trainer.max_epochs=30", *QUIET))
    assert seen[0][0] == 0 and seen[1][0] == 1, "at the start, and after the first epoch (its files written at once)"
    assert len(seen) < 10, [entry[0] for entry in seen]
    for epochs, _, rows, summary in seen:
        assert rows == epochs, "each counted epoch's row is on disk when its summary is"
        last = summary.get("last_checkpoint")
        if last is not None:
            assert Path(last["path"]).is_file() and last["epoch"] <= epochs
    final = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert final["status"] == "completed" and len(final["history"]) == 30
    assert len(_epoch_rows(tmp_path / "run")) == 30


def test_a_second_run_into_a_live_directory_is_refused_and_the_first_is_untouched(tmp_path: Path) -> None:
    run_dir = tmp_path / "shared"
    first = _start(run_dir, "trainer.max_epochs=100000")
    try:
        _wait_for_rows(run_dir, first, 1)
        overrides_before = (run_dir / ".hydra" / "overrides.yaml").read_text()
        second = run_cli(f"hydra.run.dir={run_dir}", "trainer.max_epochs=2", "optimizer.lr=0.05")
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert lines == [
            f"error: hydra.run.dir={run_dir} is in use by a run that is still going (pid {first.pid} on "
            f"{os.uname().nodename}); give this run its own directory (leave hydra.run.dir out) or wait for that "
            "run to end."
        ]
        assert (run_dir / ".hydra" / "overrides.yaml").read_text() == overrides_before, "refused before Hydra wrote"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and "optimizer.lr=0.05" not in summary["overrides"]


def test_a_finished_directory_is_refused_unless_the_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "done"
    assert run_cli(f"hydra.run.dir={run_dir}", *QUIET, "trainer.max_epochs=2").returncode == 0
    again = run_cli(f"hydra.run.dir={run_dir}", *QUIET, "trainer.max_epochs=2")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1] == (
        f"error: hydra.run.dir={run_dir} already holds a completed run of 2 epochs; give this run another "
        f"directory, or resume that run there with ckpt_path={run_dir}/checkpoints/last.ckpt."
    )
    evaluation = run_cli(f"hydra.run.dir={run_dir}", "train=false", f"ckpt_path={run_dir}/checkpoints/best.ckpt")
    assert evaluation.returncode == 2, "evaluating into it would replace the run's summary"
    resumed = run_cli(
        f"hydra.run.dir={run_dir}", *QUIET, f"ckpt_path={run_dir}/checkpoints/last.ckpt", "trainer.max_epochs=3"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [row["epoch"] for row in json.loads((run_dir / "summary.json").read_text())["history"]] == [0, 1, 2]


def test_an_unwritable_run_directory_is_one_sentence(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory would go")
    result = run_cli(f"hydra.run.dir={blocked}/run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: hydra.run.dir={blocked}/run cannot be written (Not a directory); give a directory you can write to."
    ]
