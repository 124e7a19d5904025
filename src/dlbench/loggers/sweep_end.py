"""The end of a sweep in each logger: the comparison report goes where the sweep's jobs logged.

W&B gets it as a `report` run in the sweep's group (`wandb_report.py`); MLflow as artifacts of
the sweep's parent run, which is then closed. TensorBoard needs nothing: `tensorboard --logdir
<sweep dir>` already shows every job. The report on disk is what matters: a logger's problem here
is one line on stderr, never a failed sweep.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path


def report_to_loggers(sweep_dir: str | Path, files: Iterable[str | Path]) -> None:
    from dlbench.loggers.wandb_report import safely_log_report

    files = list(files)
    safely_log_report(sweep_dir, files)
    try:
        from dlbench.loggers.mlflow_logger import finish_sweep_parent

        parent = finish_sweep_parent(sweep_dir, files)
    except Exception as error:  # noqa: BLE001
        print(f"MLflow: the comparison report was not logged ({type(error).__name__}: {error})", file=sys.stderr)
        return
    if parent:
        print(f"MLflow: comparison report in the sweep's parent run {parent}", flush=True)
