"""SLURM's path without SLURM: a job of `hydra/launcher=submitit_local` signalled as a preempted one.

SLURM warns a job with SIGUSR2 before it takes the node; submitit's handler checkpoints the job's
submission and requeues it. dlbench first stops between two steps, saves `last.ckpt` and records
the run `interrupted`, then hands the signal to submitit; submitit's local executor runs the job
again, and the job resumes from its `last.ckpt` to the end.

The signal comes at a known point: the job holds (tests/hold_at.py) inside epoch 3, epochs 0-2 in
its last.ckpt, until the test has sent it, so a short run does (a long one only made the moment
the test's polling caught it likely to fall inside training).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from hold_at import hold, path_with_tests, release, wait_held

EPOCHS = 8
HOLD_STEP = 21  # Iris, 6 steps per epoch: the 3rd step of epoch 3


@pytest.mark.slow
def test_a_preempted_submitit_job_is_requeued_and_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    sweep_dir, hold_dir = tmp_path / "preempted", tmp_path / "hold"
    driver = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=20",
            "optimizer.lr=0.05",
            f"trainer.max_epochs={EPOCHS}",
            "callbacks.pictures.enabled=false",
            "callbacks.model_checkpoint.flush_every_s=0",  # last.ckpt every epoch
            *hold(HOLD_STEP, hold_dir),
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=ROOT,
        # tests/ on the path: the job takes the HoldAt callback
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path_with_tests()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_dir = sweep_dir / "0"
    pid = wait_held(hold_dir, 1, 300, alive=lambda: driver.poll() is None).get("0")
    assert pid is not None, "the job never reached its hold"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "running" and int(summary["process"]["pid"]) == pid
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    os.kill(pid, signal.SIGUSR2)  # what SLURM sends before preempting the job, while it trains
    release(hold_dir)  # the step ends; the requeued job does not hold again
    output = driver.communicate(timeout=600)[0]
    assert driver.returncode == 0, output[-4000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == EPOCHS
    assert len(summary["history"]) == EPOCHS
    logs = "".join(path.read_text() for path in (sweep_dir / ".submitit").rglob("*.out"))
    logs += "".join(path.read_text() for path in (sweep_dir / ".submitit").rglob("*.err"))
    assert "SIGUSR2: stopping after this training step" in logs
    assert "interrupted earlier; resuming from" in logs  # the requeued job started from last.ckpt
