"""A full disk is one sentence: the run ends `failed`, the previous last.ckpt intact, summary.json final.

The run directory is a 2 MB tmpfs (mounting one needs root; the test is skipped, with the reason,
where the machine does not allow it). An MLP whose checkpoints take 0.85 MB each fills it at the
second epoch's write: best.ckpt and last.ckpt of the first epoch fit, the next does not.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlbench.run.checkpoints import load_checkpoint
from helpers import run_cli

RUN = ["model.hidden=[450,450]", "callbacks.model_checkpoint.flush_every_s=0", "callbacks.pictures.enabled=false"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here (needs root and mount rights): {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_ends_the_run_in_one_sentence_with_its_records_whole(small_disk: Path) -> None:
    run_dir = small_disk / "run"
    result = run_cli(f"hydra.run.dir={run_dir}", *RUN, "trainer.max_epochs=5")
    assert result.returncode == 1, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert lines[0] == (
        f"error: the disk holding {run_dir} is full (no space left to write the run's records); {last} is intact; "
        f"free space, then resume with ckpt_path={last}."
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["stop_reason"] == lines[0].removeprefix("error: ")
    assert summary["last_checkpoint"]["path"] == str(last)
    assert load_checkpoint(last)["epoch"] == summary["last_checkpoint"]["epoch"], "last.ckpt is whole"
    assert load_checkpoint(run_dir / "checkpoints" / "best.ckpt")
    assert not [path.name for path in run_dir.rglob("*tmp*")], "no temporary file is left behind"

    # free space, resume as the sentence says: the run completes from that checkpoint
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = run_cli(f"hydra.run.dir={run_dir}", *RUN, "trainer.max_epochs=5", f"ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = json.loads((run_dir / "summary.json").read_text())
    assert final["status"] == "completed" and final["epochs_run"] == 5
