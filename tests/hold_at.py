"""A callback for tests: hold a run at a known training step until the test lets it go.

A test that kills or signals a job "while it trains" used to start a long run (hundreds of epochs)
and hope to catch it well inside: the run's length was only there so the test's polling would not
miss it. `HoldAt` makes the point exact and the run short: at the end of training step `step` the
run writes `<hold_dir>/<job>.held` (its process id) and waits, its earlier epochs' last.ckpt on
disk, until the file `<hold_dir>/release` exists. The test acts on the held process (kill -9, a
signal, its node killed) and then writes `release`.

Once per job: a run that finds its `.held` file already there (the same job started again: retried,
requeued, resumed) does not hold.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytorch_lightning as pl


class HoldAt(pl.Callback):
    def __init__(self, step: int, hold_dir: str) -> None:
        self.step, self.hold_dir = step, Path(hold_dir)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step != self.step:
            return
        job = Path(trainer.checkpoint_callback.dirpath).parent.name  # the run directory's name: the job number
        held = self.hold_dir / f"{job}.held"
        if held.exists():
            return
        self.hold_dir.mkdir(parents=True, exist_ok=True)
        partial = held.with_suffix(".partial")
        partial.write_text(str(os.getpid()))
        partial.replace(held)  # whole when the test sees it
        while not (self.hold_dir / "release").exists():
            time.sleep(0.05)


def hold(step: int, hold_dir: Path) -> list[str]:
    """The overrides that add `HoldAt(step, hold_dir)` to a run's callbacks."""
    return [
        "+callbacks.hold._target_=hold_at.HoldAt",
        f"+callbacks.hold.step={step}",
        f"+callbacks.hold.hold_dir={hold_dir}",
    ]


def wait_held(hold_dir: Path, jobs: int, deadline_s: float, alive=lambda: True) -> dict[str, int]:
    """Until `jobs` runs hold in `hold_dir` (or `deadline_s` passes, or `alive()` turns false): job -> pid."""
    end = time.time() + deadline_s
    found: dict[str, int] = {}
    while time.time() < end and alive():
        found = {path.name.removesuffix(".held"): int(path.read_text()) for path in hold_dir.glob("*.held")}
        if len(found) >= jobs:
            break
        time.sleep(0.2)
    return found


def release(hold_dir: Path) -> None:
    (hold_dir / "release").touch()


def path_with_tests() -> str:
    """PYTHONPATH for a `python train.py` that takes this callback: tests/ before what is there."""
    here = str(Path(__file__).resolve().parent)
    return os.pathsep.join([here, *(part for part in os.environ.get("PYTHONPATH", "").split(os.pathsep) if part)])
