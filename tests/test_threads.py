"""`threads=auto`: one torch thread for a tiny network's step on the CPU, torch's default otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from dlbench.training.threads import threads_for

ROOT = Path(__file__).resolve().parents[1]


def _lenet() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Flatten(), nn.Linear(20 * 24 * 24, 10))


def test_auto_takes_one_thread_for_a_tiny_step_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    iris = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    assert threads_for("auto", iris, (4,), 16) == 1
    assert threads_for("auto", _lenet(), (1, 28, 28), 64) is None  # 1.5e8 FLOPs a step: torch's default
    assert threads_for("auto", iris, (4,), 16, on_cpu=False) is None  # a GPU's step: torch's threads do not matter
    assert threads_for(3, _lenet(), (1, 28, 28), 64) == 3  # a number is the user's
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads_for("auto", iris, (4,), 16) is None  # the environment's choice is kept


def test_the_default_run_trains_with_one_thread_and_a_bad_value_is_refused(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    script = (
        "import torch; torch.set_num_threads(2); from torch import nn;"
        "from dlbench.training.threads import use_threads;"
        "use_threads('auto', nn.Linear(4, 3), (4,), 16); print(torch.get_num_threads());"
        "use_threads('auto', nn.Linear(4000, 3000), (4000,), 64); print(torch.get_num_threads())"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    # a tiny step: one thread; a large one in the same process (a sweep's next job): torch's default again
    assert done.stdout.split() == ["1", "2"]
    refused = subprocess.run(
        [sys.executable, "train.py", "threads=0", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert refused.returncode != 0
    assert "threads=0" in refused.stderr and "'auto' or a whole number >= 1" in refused.stderr, refused.stderr
