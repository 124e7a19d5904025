"""A callback the start-up case adds to a real `python train.py` run: it writes the wall-clock
time of the first training step to the file named by $DLBENCH_FIRST_STEP_FILE."""

from __future__ import annotations

import os
import time

import pytorch_lightning as pl


class FirstStep(pl.Callback):
    def __init__(self) -> None:
        self.done = False

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if not self.done:
            self.done = True
            with open(os.environ["DLBENCH_FIRST_STEP_FILE"], "w") as file:
                file.write(repr(time.time()))
