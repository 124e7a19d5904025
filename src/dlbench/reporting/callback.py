"""The Hydra callback that ends every multirun with its comparison report.

It runs in the process that launched the sweep, after the launcher has collected every job, so
it works the same with the basic, joblib and submitit launchers and with the Optuna sweeper.
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class ComparisonReport(Callback):
    """`on_multirun_end`: write report.csv, report.md and the plots into the sweep directory."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from dlbench.reporting.comparison import write_report

        sweep_dir = config.hydra.sweep.dir
        try:
            written = write_report(sweep_dir)
        except Exception as error:  # noqa: BLE001 - a report problem must not turn a finished sweep into a failure
            log.warning("No comparison report for %s: %s: %s", sweep_dir, type(error).__name__, error)
            print(f"warning: no comparison report for {sweep_dir}: {error}")
            return
        print(f"comparison report: {sweep_dir}/report.md ({len(written)} files)")
        from dlbench.loggers.sweep_end import report_to_loggers

        report_to_loggers(sweep_dir, written)  # W&B's sweep group, MLflow's parent run: where the jobs logged
