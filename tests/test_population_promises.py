"""Populations keep every promise a run alone keeps: Ctrl-C, SIGTERM and kill -9 of a population
leave each member as they leave a run alone (its last.ckpt, its summary.json in words), a member
resumes alone exactly, and the same command run again resumes the sweep from its checkpoints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, run_cli, start_cli, summary_if_whole, wait_for

# dropout: the members run one after another with their own modules ("loop"), so a member's
# numbers are its run alone's to the last bit; digits in batches of 4: 326 steps an epoch, so an
# epoch outlasts the test's look at the files and the signal lands inside epoch 1 on a fast machine
# too (in batches of 8 a quiet machine finished epochs 1 and 2 before a signal sent 0.5 s late)
MEMBER = ["dataset=digits", "dataset.batch_size=4", "regularizer=[dropout]", "trainer.max_epochs=3"]
QUIET = ["callbacks.pictures.enabled=false", "test=false"]
RATES = ("0.1", "0.3")


def _history(summary: dict) -> list[dict[str, float]]:
    return [{key: value for key, value in row.items() if not key.startswith("time/")} for row in summary["history"]]


@pytest.fixture(scope="module")
def run_alone(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Member 0's overrides run alone, never stopped."""
    run_dir = tmp_path_factory.mktemp("alone") / "run"
    result = run_cli(*MEMBER, *QUIET, f"optimizer.lr={RATES[0]}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_population_stopped_by_a_signal_leaves_members_that_resume_alone_exactly(
    tmp_path: Path, run_alone: dict, signal_name: str
) -> None:
    sweep_dir = tmp_path / "sweep"
    command = ["-m", "hydra/launcher=population", f"optimizer.lr={','.join(RATES)}", *MEMBER, *QUIET]
    command.append(f"hydra.sweep.dir={sweep_dir}")
    process = start_cli(*command)
    wait_for(process, lambda: (sweep_dir / "1" / "checkpoints" / "best.ckpt").exists())  # epoch 0 has ended
    time.sleep(0.1)  # into epoch 1 (326 steps of two members)
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    how = "Ctrl-C" if signal_name == "SIGINT" else "SIGTERM"
    for job in ("0", "1"):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        last = summary["last_checkpoint"]
        assert summary["status"] == "interrupted"
        epoch = last["epoch"] + 1 if last["end_of_epoch"] else last["epoch"]  # stopped at an epoch's end: the next
        assert summary["stop_reason"] == f"stopped by {how} at epoch {epoch}, step {last['step']}"
        assert last["path"] == str(sweep_dir / job / "checkpoints" / "last.ckpt")
        assert sorted(path.name for path in (sweep_dir / job / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    held = json.loads((sweep_dir / "0" / "summary.json").read_text())["last_checkpoint"]
    assert held["epoch"] < 2, "stopped before the end"

    # member 0 resumed alone from its last.ckpt is, bit for bit, its run alone never stopped
    resumed_dir = tmp_path / "resumed"
    resumed = run_cli(
        *MEMBER, *QUIET, f"optimizer.lr={RATES[0]}", f"ckpt_path={held['path']}", f"hydra.run.dir={resumed_dir}"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _history(json.loads((resumed_dir / "summary.json").read_text())) == _history(run_alone)

    # the same command again: the members resume together, inside the epoch they stopped in
    again = run_cli(*command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "population: 2 jobs train together" in again.stdout
    for job in ("0", "1"):
        said = [line for line in again.stdout.splitlines() if line.startswith(f"job {job} (")]
        assert said and said[0].endswith(
            f"): interrupted earlier; resuming from {sweep_dir}/{job}/checkpoints/last.ckpt."
        )
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert summary["status"] == "completed" and [row["epoch"] for row in summary["history"]] == [0, 1, 2]
    assert _history(json.loads((sweep_dir / "0" / "summary.json").read_text())) == _history(run_alone)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "population"])
def test_a_sweep_killed_with_sigkill_is_resumed_by_the_same_command(
    tmp_path: Path, run_alone: dict, launcher: str
) -> None:
    """kill -9 leaves each job that was training `running` (the report says `lost`, and reads);
    the same command again resumes each from its last.ckpt, which stays the one current checkpoint."""
    sweep_dir = tmp_path / "sweep"
    command = [
        "-m",
        *(["hydra/launcher=population"] if launcher == "population" else []),
        f"optimizer.lr={','.join(RATES)}",
        *MEMBER,
        *QUIET,
        "callbacks.model_checkpoint.flush_every_s=0",  # last.ckpt at every epoch's end
        f"hydra.sweep.dir={sweep_dir}",
    ]
    training = ["0", "1"] if launcher == "population" else ["0"]
    process = start_cli(*command)
    wait_for(process, lambda: all(summary_if_whole(sweep_dir / job).get("last_checkpoint") for job in training))
    process.kill()  # SIGKILL: no handler runs, nothing is written after this
    process.communicate(timeout=60)
    for job in training:
        assert json.loads((sweep_dir / job / "summary.json").read_text())["status"] == "running"
    report = subprocess.run(
        [sys.executable, "-m", "dlbench.report", str(sweep_dir)], cwd=ROOT, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr[-3000:]
    for job in training:
        assert f"job {job}: lost: its process" in report.stdout

    again = run_cli(*command)
    assert again.returncode == 0, again.stderr[-3000:]
    for job in training:
        said = [line for line in again.stdout.splitlines() if line.startswith(f"job {job} (")]
        last = sweep_dir / job / "checkpoints" / "last.ckpt"
        assert said and said[0].endswith(f"): lost earlier; resuming from {last}."), said
    for job in ("0", "1"):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert [row["epoch"] for row in summary["history"]] == [0, 1, 2], "each epoch once"
        assert summary["last_checkpoint"]["path"] == str(sweep_dir / job / "checkpoints" / "last.ckpt")
        assert summary["last_checkpoint"]["epoch"] == 2
        assert sorted(path.name for path in (sweep_dir / job / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert _history(json.loads((sweep_dir / "0" / "summary.json").read_text())) == _history(run_alone)
