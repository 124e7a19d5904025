"""A sweep's job whose earlier process died with it (kill -9, a lost node) resumes from its last.ckpt.

The job claims its directory's lock before it reads the record there, so a `running` summary it
finds is from a process that is gone (a live one would hold the lock): `lost`, resumed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

from dlbench.config.context import RunContext
from dlbench.records.claim import release
from dlbench.run.jobs import start_job


def test_a_running_record_left_by_a_dead_process_is_resumed_from_its_last_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "sweep" / "3"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"checkpoint")
    overrides = ["optimizer.lr=0.1"]
    dead = {"pid": 2**22 + 12345, "host": os.uname().nodename, "updated": 0}  # no such process
    summary = {"status": "running", "overrides": overrides, "epochs_run": 7, "process": dead}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    context = RunContext(
        output_dir=run_dir, multirun=True, sweep_dir=run_dir.parent, job_number=3, overrides=tuple(overrides)
    )
    try:
        start = start_job(OmegaConf.create({"train": True, "ckpt_path": None}), context)
    finally:
        release(run_dir)
    assert not start.skip
    assert start.cfg.ckpt_path == str(run_dir / "checkpoints" / "last.ckpt")
    assert (run_dir / "checkpoints" / "last.ckpt").exists()  # not cleared as a failed job's would be
