"""metrics.csv, one row per epoch, on disk whenever the run's record is written.

Lightning's `CSVLogger` keeps rows in memory and writes them every `flush_logs_every_n_steps`
(100) rows and at the end: a run killed by SIGKILL or the OOM killer lost every row. Saving
through it costs about 1.3 ms a save (each goes through fsspec's file layer), a sixth of a
mirror-symmetry epoch. `EpochCSVLogger` is the same logger, same file, same columns (sorted, the
file rewritten when a new column appears), saved with a plain append (tens of microseconds) when
`dlbench.callbacks.run_record.RunRecord` writes the running summary.json: at most a second behind
the run and never behind its `last.ckpt`, so the rows on disk are the epochs the summary counts.
(It saved every row as it was logged before: a 256-member population paid a file write per
member per epoch.) A run without the record (`trainer.enable_checkpointing=false`) writes its rows
at its end. "On disk" means handed to the kernel: it survives the process being killed; surviving
a power cut would need an fsync, which is not made.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class _AppendingWriter(ExperimentWriter):
    """Lightning's writer, with `save` done by a plain append to a file kept open (local files only)."""

    def __init__(self, log_dir: str) -> None:
        super().__init__(log_dir)
        self._handle: Any = None
        self._writer: csv.DictWriter | None = None

    def save(self) -> None:
        if not self.metrics:
            return
        new_keys = self._record_new_keys()
        if new_keys or self._handle is None:
            self.close()
            exists = os.path.isfile(self.metrics_file_path)
            if new_keys and exists:
                self._rewrite_with_new_header(self.metrics_keys)
            self._handle = open(self.metrics_file_path, "a" if exists else "w", newline="")
            self._writer = csv.DictWriter(self._handle, fieldnames=self.metrics_keys)
            if not exists:
                self._writer.writeheader()
        assert self._writer is not None
        self._writer.writerows(self.metrics)
        self._handle.flush()  # to the kernel: a killed process leaves the row behind
        self.metrics = []

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle, self._writer = None, None


ROWS_KEPT = 10**9  # saved by the run's record, not by a count of rows (module docstring)


class EpochCSVLogger(CSVLogger):
    """`CSVLogger` whose rows reach the file with the run's record (see the module docstring)."""

    def __init__(self, *args: Any, flush_logs_every_n_steps: int = ROWS_KEPT, **kwargs: Any) -> None:
        super().__init__(*args, flush_logs_every_n_steps=flush_logs_every_n_steps, **kwargs)

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and "://" not in str(self.root_dir):
            os.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return super().experiment

    def finalize(self, status: str) -> None:
        super().finalize(status)
        if isinstance(self._experiment, _AppendingWriter):
            self._experiment.close()
