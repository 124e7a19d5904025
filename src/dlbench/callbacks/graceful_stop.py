"""Ctrl-C and SIGTERM stop training between two steps, never inside one.

A KeyboardInterrupt lands wherever Python happens to be: inside a forward pass, between the
backward pass and the optimizer step, halfway through validation. A checkpoint taken there is a
state no uninterrupted run ever had, so resuming from it cannot continue the same run. Lightning
already stops cleanly on SIGTERM (a flag, read after each training step: `SIGTERMException` is
raised between steps, or after the epoch's end when the flag comes during its last step), except
that its evaluation loop also reads the flag and stops in the middle of a validation.

`StopBetweenSteps` takes both signals for the length of the fit (one process; under DDP
Lightning's own handling, which forwards the signal to every rank, is left alone) and hands the
request to Lightning's flag only outside validation, so training stops

- after the training step under way, when the signal comes inside an epoch,
- after the epoch's end (validation, its metrics row, its checkpoints), when it comes during the
  epoch's last step or its validation.

`BufferedCheckpoint` then saves `last.ckpt` from exactly that state. A second Ctrl-C stops at
once, the old way; `last.ckpt` is then the end of the last completed epoch.

SIGUSR2 is a cluster's warning that the job is about to lose its node (SLURM's preemption or time
limit, `--signal=USR2@90`). When a handler of the job's launcher is waiting for it (submitit's,
which checkpoints the job's submission and requeues it), it is taken the same way: training stops
between two steps, `last.ckpt` is saved and the run recorded `interrupted`; then `hand_off` gives
the signal to that handler, and the requeued job resumes from `last.ckpt` (`dlbench.run.jobs`).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytorch_lightning as pl

# signals a launcher may wait for (submitit: SIGUSR2, preemption or time limit): stop, save, then hand off
HANDED_OFF = tuple(signal.Signals[name] for name in ("SIGUSR2",) if hasattr(signal, name))


class StopBetweenSteps(pl.Callback):
    """See the module docstring. `requested`: the signal that asked to stop, or None."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._installed: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None
        self.handoff: Any = None  # the launcher's own SIGUSR2 handler, called once the run has stopped

    # -- the signals ----------------------------------------------------------------------------
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            self._uninstall()
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        first = self.requested is None
        self.requested = signum
        if first:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            print(
                f"{name}: stopping after this training step to save a checkpoint (Ctrl-C again to stop at once).",
                file=sys.stderr,
                flush=True,
            )
        if self._trainer is not None and not self._trainer.validating and not self._trainer.sanity_checking:
            self._trainer._signal_connector.received_sigterm = True

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (a joblib worker thread)
        for signum in (signal.SIGINT, signal.SIGTERM, *HANDED_OFF):
            current = signal.getsignal(signum)
            if current is signal.SIG_IGN:
                continue  # e.g. Ctrl-C is ignored by a sweep's jobs started in the background
            if signum in HANDED_OFF:
                if not callable(current):
                    continue  # nobody waits for it: its default action is left alone
                self.handoff = current
            self._installed[signum] = current
            signal.signal(signum, self._handle)

    def _uninstall(self) -> None:
        for signum, previous in self._installed.items():
            if signal.getsignal(signum) == self._handle:  # Lightning's teardown may have restored it already
                signal.signal(signum, previous)
        self._installed = {}

    # -- when Lightning may see the request -----------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # after Lightning has registered its own SIGTERM handler (it does after on_fit_start)
        self.requested, self._trainer = None, trainer
        if trainer.world_size == 1:
            self._install()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._installed and trainer.state.fn == "fit":
            trainer._signal_connector.received_sigterm = False  # a validation runs to its end

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._installed and self.requested is not None and trainer.state.fn == "fit":
            trainer._signal_connector.received_sigterm = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._uninstall()
        self._trainer = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._uninstall()
        self._trainer = None


def _stopper(trainer: pl.Trainer) -> StopBetweenSteps | None:
    return next(
        (
            part
            for callback in trainer.callbacks
            for part in [callback, *getattr(callback, "parts", [])]
            if isinstance(part, StopBetweenSteps)
        ),
        None,
    )


def hand_off(trainer: pl.Trainer) -> None:
    """After a run stopped by SIGUSR2 has saved and recorded itself: the launcher's handler gets the
    signal (submitit's requeues the job and exits). Nothing when the run stopped otherwise."""
    stopper = _stopper(trainer)
    if stopper is not None and stopper.requested in HANDED_OFF and stopper.handoff is not None:
        stopper.handoff(stopper.requested, None)


def interrupt_reason(trainer: pl.Trainer, error: BaseException) -> str:
    """The summary's `stop_reason` for a run stopped by a signal: which one, and where."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    requested = next(
        (
            part.requested
            for callback in trainer.callbacks
            for part in [callback, *getattr(callback, "parts", [])]
            if isinstance(part, StopBetweenSteps) and part.requested is not None
        ),
        None,
    )
    if requested == signal.SIGINT or (requested is None and isinstance(error, KeyboardInterrupt)):
        how = "Ctrl-C"
    elif requested is not None or isinstance(error, SIGTERMException):
        how = signal.Signals(requested or signal.SIGTERM).name
    else:
        how = type(error).__name__
    return f"stopped by {how} at epoch {trainer.current_epoch}, step {trainer.global_step}"
