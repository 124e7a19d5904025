"""SLURM's path without SLURM: a job of `hydra/launcher=submitit_local` signalled as a preempted one.

SLURM warns a job with SIGUSR2 before it takes the node; submitit's handler checkpoints the job's
submission and requeues it. dlbench first stops between two steps, saves `last.ckpt` and records
the run `interrupted`, then hands the signal to submitit; submitit's local executor runs the job
again, and the job resumes from its `last.ckpt` to the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT

EPOCHS = 150


@pytest.mark.slow
def test_a_preempted_submitit_job_is_requeued_and_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "preempted"
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
            f"hydra.sweep.dir={sweep_dir}",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_dir = sweep_dir / "0"
    pid, deadline = None, time.time() + 300
    while pid is None and time.time() < deadline and driver.poll() is None:
        time.sleep(0.3)
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            continue
        if summary.get("status") == "running" and (run_dir / "checkpoints" / "last.ckpt").exists():
            pid = int(summary["process"]["pid"])
    assert pid is not None, "the job never reached a checkpoint"
    os.kill(pid, signal.SIGUSR2)  # what SLURM sends before preempting the job
    output = driver.communicate(timeout=600)[0]
    assert driver.returncode == 0, output[-4000:]

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_run"] == EPOCHS
    assert len(summary["history"]) == EPOCHS
    logs = "".join(path.read_text() for path in (sweep_dir / ".submitit").rglob("*.out"))
    logs += "".join(path.read_text() for path in (sweep_dir / ".submitit").rglob("*.err"))
    assert "SIGUSR2: stopping after this training step" in logs
    assert "interrupted earlier; resuming from" in logs  # the requeued job started from last.ckpt
