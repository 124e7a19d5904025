"""A callback for tests: send this process a real signal after a given training step."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class SignalAt(pl.Callback):
    """Sends `signal_name` (SIGTERM or SIGINT) to this process when training step `step` has ended,
    as `kill` or Ctrl-C would."""

    def __init__(self, step: int, signal_name: str = "SIGTERM") -> None:
        self.step, self.signum = step, getattr(signal, signal_name)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class SignalWhenMade(pl.Callback):
    """Sends `signal_name` to this process as soon as it is made: while the run starts (its callbacks are
    made with the network, after the data is read), before the fit."""

    def __init__(self, signal_name: str = "SIGTERM") -> None:
        os.kill(os.getpid(), getattr(signal, signal_name))
