"""SIGTERM while a run starts, before its first epoch: a record, not a silent death.

From the moment training starts, Lightning's handler and `StopBetweenSteps` take SIGTERM (training
stops between two steps, `last.ckpt` is saved, `summary.json` says `interrupted`). Before that, while
the run imports torch, reads its data, tunes, builds its network and starts its loggers, the signal's
default action used to end the process at once (exit 143) with nothing in the run directory but
`.hydra/` and the log. `stop_while_starting` takes it for that stretch: the handler raises
`StoppedWhileStarting` in the main thread, naming the signal and what the run was doing (`stage`),
and `dlbench.cli.run_job` writes `summary.json` (status `interrupted`, the stop reason in words) and
exits 128 + the signal's number (143), as the default action would have.

The handler is installed only over the default action (a launcher's own handler, or an ignored
signal, is left alone) and only in the main thread. `training_starts` gives the signal back just
before the fit, so Lightning registers its own handler over the default one, as before.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_state: dict[str, object] = {"stage": "starting", "installed": False}


class StoppedWhileStarting(SystemExit):
    """SIGTERM came before training started. A SystemExit: nothing on the way out takes it for an error."""

    def __init__(self, signum: int, stage: str) -> None:
        self.signum, self.stage = signum, stage
        super().__init__(128 + signum)

    @property
    def reason(self) -> str:
        """The record's `stop_reason`: which signal, what the run was doing, that nothing trained."""
        name = signal.Signals(self.signum).name
        return f"stopped by {name} while starting ({self.stage}), before the first epoch: nothing was trained"


def _handle(signum: int, frame: FrameType | None) -> None:
    raise StoppedWhileStarting(signum, str(_state["stage"]))


def stage(doing: str) -> None:
    """What the run is doing now (e.g. "reading the data"): named in the record if SIGTERM comes."""
    _state["stage"] = doing


@contextmanager
def stop_while_starting() -> Iterator[None]:
    """Take SIGTERM for the length of the block, or until `training_starts` (see the module)."""
    installed = (
        threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    )
    if installed:
        signal.signal(signal.SIGTERM, _handle)
    _state.update(stage="starting", installed=installed)
    try:
        yield
    finally:
        training_starts()


def training_starts() -> None:
    """From here Lightning takes SIGTERM: the default action is put back for it to find."""
    if _state["installed"] and signal.getsignal(signal.SIGTERM) is _handle:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _state["installed"] = False
