"""Sweeps tell the truth: a stopped sweep still reports what ran, what did not, and resumes."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, run_cli, start_cli
from hold_at import hold, path_with_tests, release, wait_held

QUIET = ("callbacks.pictures.enabled=false", "test=false")
EPOCHS = 8  # of each job of the sweeps stopped below: job 0 is stopped at a known step (tests/hold_at.py)
HOLD_STEP = 27  # Iris, 6 steps per epoch: the 3rd step of epoch 4, epochs 0-3 on disk


@pytest.fixture
def holding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The overrides that hold each job once at HOLD_STEP (tests/ on the runs' path for the callback)."""
    monkeypatch.setenv("PYTHONPATH", path_with_tests())
    return hold(HOLD_STEP, tmp_path / "hold")


def _start_and_hold_job_0(command: list[str], hold_dir: Path) -> subprocess.Popen:
    """Start the sweep and return once job 0 holds at HOLD_STEP (the sweep's process is the job's)."""
    process = start_cli(*command)
    held = wait_held(hold_dir, 1, 240, alive=lambda: process.poll() is None)
    assert held.get("0") == process.pid, (held, process.poll() is None or process.communicate()[1][-3000:])
    return process


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


def _stop_during_first_job(command: list[str], sweep_dir: Path, hold_dir: Path) -> subprocess.CompletedProcess:
    """Start the sweep, press Ctrl-C (as a terminal would) inside job 0's epoch 4, its record on disk."""
    process = _start_and_hold_job_0(command, hold_dir)
    running = json.loads((sweep_dir / "0" / "summary.json").read_text())
    assert running["status"] == "running" and running["epochs_run"] >= 1
    rows = (sweep_dir / "0" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + running["epochs_run"]  # a header and every epoch the running summary counts
    process.send_signal(signal.SIGINT)
    release(hold_dir)  # the step ends; the jobs of the commands run again below do not wait
    out, err = process.communicate(timeout=240)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_a_sweep_stopped_by_ctrl_c_reports_and_is_resumed_by_the_same_command(tmp_path: Path, holding) -> None:
    sweep_dir = tmp_path / "sweep"
    command = [
        "-m",
        "optimizer.lr=0.1,0.05,0.02",
        f"trainer.max_epochs={EPOCHS}",
        *QUIET,
        *holding,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    stopped = _stop_during_first_job(command, sweep_dir, tmp_path / "hold")
    assert stopped.returncode == 130
    assert "sweep stopped: 3 jobs, 1 interrupted, 2 not started" in stopped.stdout
    assert f"run the same command again with hydra.sweep.dir={sweep_dir}" in stopped.stdout
    rows = _rows(sweep_dir)
    assert [row["status"] for row in rows] == ["interrupted", "not started", "not started"]
    assert [row["optimizer.lr"] for row in rows] == ["0.1", "0.05", "0.02"]
    assert "trainer.max_epochs" not in rows[0], "a fixed override is not a swept key"
    assert sorted(path.name for path in sweep_dir.glob("final_vs_*.png")) == ["final_vs_optimizer_lr.png"]

    # the report made again from the files says the same
    again = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(sweep_dir)], cwd=ROOT, capture_output=True, text=True
    )
    assert again.returncode == 0 and [row["status"] for row in _rows(sweep_dir)] == [r["status"] for r in rows]

    first = json.loads((sweep_dir / "0" / "summary.json").read_text())
    resumed = run_cli(*command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = [line for line in resumed.stdout.splitlines() if line.startswith("job 0 (optimizer.lr=0.1 ")]
    assert said and said[0].endswith(f"): interrupted earlier; resuming from {sweep_dir}/0/checkpoints/last.ckpt.")
    assert [row["status"] for row in _rows(sweep_dir)] == ["completed"] * 3
    job0 = json.loads((sweep_dir / "0" / "summary.json").read_text())
    assert [row["epoch"] for row in job0["history"]] == list(range(EPOCHS)), "resumed, each epoch once"
    assert job0["history"][: first["epochs_run"] - 1] == first["history"][: first["epochs_run"] - 1]

    # and once more: nothing is left to run
    done = run_cli(*command)
    assert done.returncode == 0
    assert done.stdout.count("earlier in") == 3 and "not run again" in done.stdout


def test_a_different_sweep_into_a_sweep_directory_is_refused(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "multirun.yaml").write_text(  # as Hydra leaves it: the other sweep's command
        "hydra:\n  overrides:\n    task:\n    - optimizer.lr=0.1,0.01\n  sweeper:\n"
        "    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n    params: null\n"
    )
    result = run_cli("-m", "optimizer.lr=0.5,0.05", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: hydra.sweep.dir={sweep_dir} holds another sweep (optimizer.lr=0.1,0.01); give this sweep its own "
        "directory (leave hydra.sweep.dir out), or run that sweep's own command again to resume it."
    )
    assert sorted(path.name for path in sweep_dir.iterdir()) == ["multirun.yaml"], "nothing written into it"


def test_a_sweep_of_only_diverged_and_completed_jobs_exits_zero(tmp_path: Path) -> None:
    """Diverged is a result (that learning rate diverges), not a failure of the sweep."""
    sweep_dir = tmp_path / "sweep"
    result = run_cli("-m", "optimizer.lr=0.1,1e10", "trainer.max_epochs=2", *QUIET, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [row["status"] for row in _rows(sweep_dir)] == ["completed", "diverged"]
    assert "sweep done: 2 jobs, 1 completed, 1 diverged" in result.stdout


def test_the_sweep_exit_rule() -> None:
    from dlbench.report import sweep_exit_status

    assert sweep_exit_status(["completed", "diverged"]) == 0
    assert sweep_exit_status(["completed", "failed"]) == 1
    assert sweep_exit_status(["completed", "lost"]) == 1


@pytest.mark.slow
def test_a_basic_sweep_killed_with_sigkill_resumes_its_job_from_its_checkpoint(tmp_path: Path, holding) -> None:
    """kill -9 leaves job 0 `running` with a last.ckpt; the same command resumes it there, not from scratch."""
    sweep_dir = tmp_path / "sweep"
    command = [
        "-m",
        "optimizer.lr=0.1,0.05",
        f"trainer.max_epochs={EPOCHS}",
        "callbacks.model_checkpoint.flush_every_s=0",  # last.ckpt at every epoch's end
        *QUIET,
        *holding,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    process = _start_and_hold_job_0(command, tmp_path / "hold")
    summary_path = sweep_dir / "0" / "summary.json"
    process.kill()  # SIGKILL: no handler runs, nothing is written after this
    process.communicate(timeout=60)
    release(tmp_path / "hold")  # job 1, in the command run again, does not wait
    killed = json.loads(summary_path.read_text())
    assert killed["status"] == "running"
    held = killed["last_checkpoint"]["epoch"]

    resumed = run_cli(*command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = [line for line in resumed.stdout.splitlines() if line.startswith("job 0 (optimizer.lr=0.1 ")]
    assert said and said[0].endswith(f"): lost earlier; resuming from {sweep_dir}/0/checkpoints/last.ckpt."), said
    job0 = json.loads(summary_path.read_text())
    assert job0["status"] == "completed" and [row["epoch"] for row in job0["history"]] == list(range(EPOCHS))
    assert job0["epochs_run"] == EPOCHS and held >= 3
    assert [row["status"] for row in _rows(sweep_dir)] == ["completed"] * 2
