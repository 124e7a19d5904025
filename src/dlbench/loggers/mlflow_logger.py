"""MLflow for every run: params, metrics per epoch, pictures and summary.json as artifacts.

Lightning's `MLFlowLogger` writes the metrics; this subclass adds what a platform of many runs
and sweeps needs:

- the store: `tracking_uri` when given (a server, `sqlite:///...`), else `MLFLOW_TRACKING_URI`,
  else one local SQLite store for every run, `outputs/mlflow.db` under the directory `train.py`
  runs from, so `mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db` and
  `mlflow.search_runs` compare all of them with no extra variable (MLflow 3's recommendation: its
  file store is in maintenance mode, refused unless `MLFLOW_ALLOW_FILE_STORE=true`). A new store's
  schema is created once, under a file lock, so parallel jobs of a first sweep do not race on it.
  Runs' artifacts go next to it, in `outputs/mlartifacts`. An older `file:` store (dlbench's
  earlier default `outputs/mlruns`) is still written and read when named: see docs/loggers.md;
- the flat resolved config as params (`optimizer.lr`), metrics with the epoch as their step;
- one MLflow run per job; the jobs of a sweep nested under one parent run named after the sweep
  (created by the first job, under a lock in the sweep directory; closed with the comparison
  report as its artifacts at the end of the sweep);
- at the end: the run's pictures and summary.json as artifacts, the best value as a metric, and
  the run's real status (FAILED on an exception, KILLED on Ctrl-C).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.utilities import rank_zero_only

from dlbench.config.context import RunContext
from dlbench.errors import ConfigError
from dlbench.loggers.naming import run_name as short_name
from dlbench.loggers.protocol import flatten
from dlbench.records.summary import SUMMARY_FILE, Summary

PARENT_FILE = "mlflow_parent.json"  # in the sweep directory: the parent run every job nests under
STATUSES = {"completed": "FINISHED", "diverged": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
BATCH = 100  # MLflow's limit of params per log_batch call


def require_mlflow() -> None:
    """logger=mlflow without the mlflow package: one sentence with the command that installs it."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "logger=mlflow needs the mlflow package, which is not installed; run pip install -e '.[mlflow]' "
            "(or pip install mlflow, which adds the mlflow ui), or choose logger=[csv,tensorboard]."
        ) from None


def local_store(root_dir: str | Path) -> str:
    """The default store: `<root>/outputs/mlflow.db`, one for every run started from `root`."""
    return "sqlite:///" + str((Path(root_dir) / "outputs" / "mlflow.db").resolve())


def local_artifacts(root_dir: str | Path) -> str:
    """Where the default store's runs keep their artifacts: `<root>/outputs/mlartifacts`."""
    return (Path(root_dir) / "outputs" / "mlartifacts").resolve().as_uri()


def allow_file_store(tracking_uri: str) -> None:
    """MLflow 3 refuses a local file store unless this is set; a `file:` store named by the user
    (dlbench's default before the SQLite one) is still theirs to write and read."""
    if tracking_uri.startswith("file:") or "://" not in tracking_uri:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def prepare_store(tracking_uri: str) -> None:
    """A new `sqlite:///` store gets its schema here, once, under a lock next to it: MLflow creates
    it on first use, and two jobs of a parallel sweep doing so at once would race on the migration."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    database = Path(tracking_uri[len("sqlite:///") :])
    with locked(database.with_name(database.name + ".lock")):
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri).search_experiments(max_results=1)


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI when the store is a server; None for a local store."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` for parallel jobs of one sweep (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: jobs of a parallel sweep may then make two parents
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def experiment_id_of(client: Any, name: str, artifact_location: str | None = None) -> str:
    """The experiment's id, creating it; another job creating it at the same moment is no error."""
    for _ in range(3):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None and experiment.lifecycle_stage != "deleted":
            return str(experiment.experiment_id)
        try:
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except Exception:  # noqa: BLE001 - created by a parallel job between the two calls
            time.sleep(0.2)
    raise RuntimeError(f"could not create or find the MLflow experiment {name!r}")


def sweep_parent(client: Any, tracking_uri: str, experiment_id: str, sweep_dir: Path, group: str) -> str:
    """The parent run of the sweep in `sweep_dir`: made by the first job, found by the others."""
    record = sweep_dir / PARENT_FILE
    with locked(sweep_dir / ".mlflow_parent.lock"):
        if record.exists():
            saved = json.loads(record.read_text())
            if saved.get("tracking_uri") == tracking_uri and saved.get("experiment_id") == experiment_id:
                return str(saved["run_id"])
        run = client.create_run(
            experiment_id,
            run_name=group,
            tags={"dlbench.sweep_dir": str(sweep_dir.resolve()), "dlbench.kind": "sweep"},
        )
        record.write_text(
            json.dumps(
                {"tracking_uri": tracking_uri, "experiment_id": experiment_id, "run_id": run.info.run_id}, indent=2
            )
            + "\n"
        )
        return str(run.info.run_id)


def _sweep_dir(context: RunContext | None) -> Path | None:
    """The sweep this run is a job of: Hydra's multirun, or a job of `python -m dlbench.sweep` (a W&B
    sweep spec run here), whose runner names its sweep directory in DLBENCH_SWEEP_DIR."""
    if context is not None and context.sweep_dir is not None:
        return context.sweep_dir
    return Path(os.environ["DLBENCH_SWEEP_DIR"]) if os.environ.get("DLBENCH_SWEEP_DIR") else None


class DlbenchMLFlowLogger(MLFlowLogger):
    """Lightning's MLFlowLogger with the store, params, nesting, artifacts and status a sweep needs."""

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment_name: str = "dlbench",
        run_name: str | None = None,
        tags: Mapping[str, Any] | Sequence[str] | None = None,
        root_dir: str = ".",
        nest_sweeps: bool = True,
        log_pictures: bool = True,
        context: RunContext | None = None,
        **kwargs: Any,
    ) -> None:
        """`context`: the run's (the build step passes it): a sweep job nests under its sweep's parent
        run, and the run is named after the job's overrides and tagged with the chosen options."""
        require_mlflow()
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or local_store(root_dir)
        allow_file_store(uri)
        prepare_store(uri)
        if uri == local_store(root_dir):
            kwargs.setdefault("artifact_location", local_artifacts(root_dir))
        sweep_dir = _sweep_dir(context)
        choices = dict(context.choices) if context is not None else {}
        from dlbench.loggers.wandb_logger import sweep_group

        self.sweep_dir = sweep_dir if nest_sweeps else None
        self.group = sweep_group(sweep_dir) if sweep_dir is not None else None
        self.log_pictures = log_pictures
        self.parent_run_id: str | None = None
        self._uploaded: set[str] = set()
        name = run_name or short_name(context, limit=250)
        all_tags = {f"dlbench.{key}": choices[key] for key in ("dataset", "model", "optimizer") if key in choices}
        if tags is not None and not isinstance(tags, Mapping):  # the run's `tags=[baseline,v2]`: each a tag
            tags = {str(tag): "true" for tag in tags}
        all_tags.update({str(key): str(value) for key, value in (tags or {}).items()})
        super().__init__(experiment_name=experiment_name, run_name=name, tracking_uri=uri, tags=all_tags, **kwargs)

    @property
    def tracking_uri(self) -> str:
        return self._tracking_uri

    # -- dlbench's logger protocol ------------------------------------------------------------
    @rank_zero_only
    def start(self, config: Mapping[str, Any]) -> None:
        """Create the run (under the sweep's parent) and log the flat config as its params."""
        from mlflow.entities import Param

        client = self._mlflow_client
        self._experiment_id = experiment_id_of(client, self._experiment_name, self._artifact_location)
        self.tags = dict(self.tags or {})
        output_dir = (config.get("paths") or {}).get("output_dir")
        if output_dir:
            self.tags["dlbench.run_dir"] = str(Path(output_dir).resolve())
        if self.sweep_dir is not None:
            self.parent_run_id = sweep_parent(
                client, self._tracking_uri, self._experiment_id, self.sweep_dir, str(self.group)
            )
            self.tags["mlflow.parentRunId"] = self.parent_run_id
            self.tags["dlbench.sweep"] = str(self.group)
        _ = self.experiment  # Lightning's property creates the run with these tags
        params = [Param(key[:250], str(value)[:6000]) for key, value in flatten(config).items()]
        for index in range(0, len(params), BATCH):
            client.log_batch(self.run_id, params=params[index : index + BATCH])

    @rank_zero_only
    def log_picture(self, key: str, path: Path, step: int | None = None) -> None:
        if self.log_pictures:
            self.experiment.log_artifact(self.run_id, str(path), artifact_path=str(Path(key).parent))
            self._uploaded.add(str(Path(path).resolve()))

    @rank_zero_only
    def finish_run(self, summary: Summary, pictures: Sequence[Path] = ()) -> None:
        """summary.json and the pictures as artifacts, the best value as a metric, the real status."""
        if not self._initialized:
            return
        from mlflow.entities import Metric

        client, run_id = self.experiment, self.run_id
        run_dir = Path(summary.run_dir) if summary.run_dir else None
        if run_dir is not None and (run_dir / SUMMARY_FILE).exists():
            client.log_artifact(run_id, str(run_dir / SUMMARY_FILE))
        if self.log_pictures:
            for path in pictures:
                if str(Path(path).resolve()) in self._uploaded:
                    continue
                folder = Path(path).parent.relative_to(run_dir) if run_dir is not None else Path()
                client.log_artifact(run_id, str(path), artifact_path=str(folder) if str(folder) != "." else None)
        best = summary.best
        now, step = int(time.time() * 1000), max(summary.epochs_run - 1, 0)
        numbers = {"parameters": summary.parameters, **({f"best/{best.metric}": best.value} if best else {})}
        metrics = [Metric(key, float(value), now, step) for key, value in numbers.items() if value is not None]
        if metrics:
            client.log_batch(run_id, metrics=metrics)
        status = summary.status
        client.set_tag(run_id, "dlbench.status", status)
        if summary.stop_reason:
            client.set_tag(run_id, "dlbench.stop_reason", summary.stop_reason[:5000])
        client.set_terminated(run_id, STATUSES.get(status, "FAILED"))

    def record(self) -> dict[str, Any]:
        if not self._initialized:
            return {}
        return {
            "mlflow": {
                "tracking_uri": self._tracking_uri,
                "experiment_id": self._experiment_id,
                "run_id": self._run_id,
                "parent_run_id": self.parent_run_id,
                "link": run_link(self._tracking_uri, str(self._experiment_id), str(self._run_id)),
            }
        }

    # -- Lightning's interface ----------------------------------------------------------------
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """The epoch is the step (a task row carries `epoch`; so do Lightning's test results)."""
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, int(epoch) if epoch is not None else step)

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        """The flat config is logged once in `start`; MLflow params cannot be logged twice."""

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Nothing at the end of fit or test: `finish_run` ends the run with the job's real status."""


def finish_sweep_parent(sweep_dir: str | Path, report_files: Sequence[str | Path]) -> str | None:
    """At the end of a sweep: the comparison report into the parent run, which is then FINISHED.

    Returns the parent run's id, or None when no job of the sweep logged to MLflow.
    """
    record = Path(sweep_dir) / PARENT_FILE
    if not record.exists():
        return None
    saved = json.loads(record.read_text())
    allow_file_store(saved["tracking_uri"])
    from mlflow import MlflowClient

    client = MlflowClient(saved["tracking_uri"])
    for path in report_files:
        client.log_artifact(saved["run_id"], str(path), artifact_path="report")
    client.set_terminated(saved["run_id"], "FINISHED")
    return str(saved["run_id"])
