"""TensorBoard and MLflow as a user meets them: real runs, read back with each library's own reader.

TensorBoard's records are read with its EventAccumulator (what `tensorboard --logdir` serves) and
its HParams protobufs; MLflow's with `mlflow.search_runs` and `MlflowClient`, on a local store in
tmp_path. No server, no network.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dlbench.errors import ConfigError, find_config_error
from dlbench.loggers.protocol import read_records
from dlbench.run import train
from helpers import run_cli


@pytest.fixture(autouse=True)
def _file_store_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The readers below open the same local file store the logger wrote (MLflow 3 asks for this)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def events(log_dir: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def hparams_of(accumulator: Any) -> tuple[dict[str, Any], list[str]]:
    """(hyperparameters of the run's HParams session, metric names of its HParams experiment)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    params: dict[str, Any] = {}
    metrics: list[str] = []
    for content in accumulator.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                params[key] = getattr(value, value.WhichOneof("kind"))
        if data.HasField("experiment"):
            metrics = [info.name.tag for info in data.experiment.metric_infos]
    return params, metrics


def mlflow_runs(store: Path) -> list[Any]:
    import mlflow

    mlflow.set_tracking_uri(f"file:{store}")
    return mlflow.search_runs(experiment_names=["dlbench"], output_format="list")


def test_tensorboard_has_scalars_per_epoch_pictures_and_the_hparams_tab(make_cfg, tmp_path: Path) -> None:
    best = train(make_cfg("logger=[csv,tensorboard]", "trainer.max_epochs=3", "optimizer.lr=0.05"))
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    read = events(run_dir / "tensorboard")

    for key in ("train/loss", "val/loss", "val/acc", "lr"):
        points = read.Scalars(key)
        assert [point.step for point in points] == [0, 1, 2], "one point per epoch, the epoch as the step"
        assert [point.value for point in points] == pytest.approx([row[key] for row in summary["history"]])
    assert read.Scalars("test/acc")[-1].value == pytest.approx(summary["metrics"]["test"]["acc"])
    assert "pictures/curves" in read.Tags()["images"]
    image = read.Images("pictures/curves")[-1]
    assert image.width > 100 and image.height > 100 and image.encoded_image_string.startswith(b"\x89PNG")

    params, metric_names = hparams_of(read)
    assert params["optimizer.lr"] == pytest.approx(0.05)
    assert params["model.hidden"] == "[16]" and params["dataset._target_"].endswith("Iris")
    assert params["status"] == "completed" and not any(key.startswith("hydra") for key in params)
    assert {"final/test/acc", "final/val/loss", "best/val/loss"} <= set(metric_names)
    assert read.Scalars("best/val/loss")[-1].value == pytest.approx(best)
    assert read.Scalars("final/test/acc")[-1].value == pytest.approx(summary["metrics"]["test"]["acc"])
    assert read_records(run_dir)["tensorboard"]["log_dir"] == str((run_dir / "tensorboard").resolve())


def test_mlflow_run_has_flat_params_metrics_per_epoch_and_artifacts(make_cfg, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    store = tmp_path / "mlruns"
    best = train(
        make_cfg(
            "logger=[csv,mlflow]",
            "trainer.max_epochs=3",
            "optimizer.lr=0.05",
            f"logger.mlflow.tracking_uri=file:{store}",
        )
    )
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    (run,) = mlflow_runs(store)
    client = MlflowClient(f"file:{store}")

    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["optimizer.lr"] == "0.05" and params["model.hidden"] == "[16]"
    assert params["dataset._target_"].endswith("Iris") and not any(key.startswith("hydra") for key in params)
    history = client.get_metric_history(run.info.run_id, "val/loss")
    assert [point.step for point in history] == [0, 1, 2]
    assert [point.value for point in history] == pytest.approx([row["val/loss"] for row in summary["history"]])
    assert run.data.metrics["best/val/loss"] == pytest.approx(best)
    assert run.data.metrics["test/acc"] == pytest.approx(summary["metrics"]["test"]["acc"])
    assert run.data.tags["dlbench.run_dir"] == str(run_dir.resolve())
    assert run.data.tags["dlbench.model"] == "mlp" and run.data.tags["dlbench.status"] == "completed"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "pictures"} <= artifacts
    assert "pictures/curves.png" in {item.path for item in client.list_artifacts(run.info.run_id, "pictures")}
    copy = Path(client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path)))
    assert json.loads(copy.read_text())["best"] == summary["best"]
    assert read_records(run_dir)["mlflow"]["run_id"] == run.info.run_id


def test_mlflow_default_store_is_sqlite_in_outputs_and_search_runs_reads_it(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # what a user has: no extra variable
    train(make_cfg("logger=mlflow", "trainer.max_epochs=1", f"logger.mlflow.root_dir={tmp_path}"))
    database = tmp_path / "outputs" / "mlflow.db"
    assert database.is_file() and not (tmp_path / "outputs" / "mlruns").exists()
    mlflow.set_tracking_uri(f"sqlite:///{database}")
    frame = mlflow.search_runs(experiment_names=["dlbench"])  # a pandas DataFrame, the first thing users type
    assert len(frame) == 1 and frame["status"].tolist() == ["FINISHED"]
    assert "params.optimizer.lr" in frame.columns
    (run_dir,) = frame["tags.dlbench.run_dir"].tolist()
    artifacts = tmp_path / "outputs" / "mlartifacts"
    assert list(artifacts.glob("*/artifacts/summary.json"))  # next to the store, not in the working directory
    assert Path(run_dir).is_dir()


def test_a_diverged_run_ends_finished_with_its_status_as_a_tag(make_cfg, tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    train(
        make_cfg(
            "logger=[mlflow]", "trainer.max_epochs=5", "optimizer.lr=1e12", f"logger.mlflow.tracking_uri=file:{store}"
        )
    )
    (run,) = mlflow_runs(store)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "diverged"
    assert run.info.status == "FINISHED" and run.data.tags["dlbench.status"] == "diverged"


def test_every_logger_at_once(make_cfg, tmp_path: Path, no_account: None) -> None:
    store = tmp_path / "mlruns"
    train(
        make_cfg(
            "logger=[csv,tensorboard,mlflow,wandb]", "trainer.max_epochs=2", f"logger.mlflow.tracking_uri=file:{store}"
        )
    )
    run_dir = tmp_path / "run"
    records = read_records(run_dir)
    assert set(records) == {"tensorboard", "mlflow", "wandb"}
    with (run_dir / "metrics.csv").open() as handle:
        assert sum(bool(row["val/loss"]) for row in csv.DictReader(handle)) == 2  # one row per epoch
    assert [point.step for point in events(run_dir / "tensorboard").Scalars("val/loss")] == [0, 1]
    assert mlflow_runs(store)[0].info.run_id == records["mlflow"]["run_id"]
    assert Path(records["wandb"]["sync_dir"]).is_dir()


SHARED = ("train/", "val/", "test/", "best/", "lr", "time/")  # the run's numbers; each logger adds its own extras


def shared_keys(keys: Any) -> set[str]:
    return {key for key in keys if key.startswith(SHARED)}


def test_every_logger_reads_back_the_same_metric_names_and_the_config(make_cfg, tmp_path: Path, no_account) -> None:
    """One vocabulary: the same keys for the epoch rows, the test row and the best value, read back
    with each logger's own client; the epoch as the x axis; the hyperparameters everywhere."""
    from mlflow import MlflowClient

    from test_wandb_logger import inspect_summary, offline_runs, run_transactions

    store = tmp_path / "mlruns"
    best = train(
        make_cfg(
            "logger=[csv,tensorboard,mlflow,wandb]",
            "trainer.max_epochs=2",
            "optimizer.lr=0.05",
            f"logger.mlflow.tracking_uri=file:{store}",
        )
    )
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    epoch_keys = {key for key in summary["history"][0] if key != "epoch"}
    expected = epoch_keys | {f"test/{name}" for name in summary["metrics"]["test"]} | {"best/val/loss"}

    with (run_dir / "metrics.csv").open() as handle:
        csv_keys = shared_keys(csv.DictReader(handle).fieldnames or [])
    board = events(run_dir / "tensorboard")
    board_keys = shared_keys(board.Tags()["scalars"])
    (mlflow_run,) = mlflow_runs(store)
    mlflow_keys = shared_keys(mlflow_run.data.metrics)
    (wandb_run,) = offline_runs(run_dir / "wandb")
    wandb_summary = inspect_summary(wandb_run)
    wandb_keys = shared_keys(wandb_summary["summary"])

    assert csv_keys == epoch_keys | {f"test/{name}" for name in summary["metrics"]["test"]}  # no best in a csv row
    assert board_keys == mlflow_keys == wandb_keys == expected
    assert board.Scalars("best/val/loss")[-1].value == pytest.approx(best)
    assert mlflow_run.data.metrics["best/val/loss"] == pytest.approx(best)
    assert wandb_summary["summary"]["best/val/loss"] == pytest.approx(best)

    # the x axis: the epoch for epoch rows and the test row (TensorBoard's and MLflow's step, W&B's `epoch`)
    assert [point.step for point in board.Scalars("val/loss")] == [0, 1]
    client = MlflowClient(f"file:{store}")
    assert [point.step for point in client.get_metric_history(mlflow_run.info.run_id, "val/loss")] == [0, 1]
    # the test row after the last epoch: at the count of epochs run (Lightning's epoch then), in both
    (test_point,) = client.get_metric_history(mlflow_run.info.run_id, "test/acc")
    assert board.Scalars("test/acc")[-1].step == test_point.step == summary["epochs_run"]
    axes = {record.get("name"): record.get("step_metric") for record in run_transactions(wandb_run, "metric")}
    assert {axes[key] for key in ("val/loss", "train/loss", "lr", "test/acc")} == {"epoch"}

    # the hyperparameters, in every logger
    csv_hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    board_hparams = yaml.safe_load((run_dir / "tensorboard" / "hparams.yaml").read_text())
    assert csv_hparams["optimizer"]["lr"] == board_hparams["optimizer"]["lr"] == 0.05
    assert float(mlflow_run.data.params["optimizer.lr"]) == 0.05
    assert wandb_summary["config"]["optimizer.lr"] == 0.05


def test_logger_mlflow_without_the_package_is_one_sentence(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "mlflow", None)  # `import mlflow` now raises ImportError
    with pytest.raises(Exception) as raised:  # Hydra's instantiate wraps it; train.py prints the sentence
        train(make_cfg("logger=mlflow", "trainer.max_epochs=1"))
    error = find_config_error(raised.value)
    assert isinstance(error, ConfigError)
    assert str(error).startswith("logger=mlflow needs the mlflow package")
    assert "pip install -e '.[mlflow]'" in str(error)


@pytest.mark.slow
def test_a_sweep_nests_its_jobs_under_one_parent_run_and_the_report_names_them(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    store, sweep_dir = tmp_path / "mlruns", tmp_path / "sweep"
    result = run_cli(
        "-m",
        "logger=[csv,tensorboard,mlflow]",
        "optimizer.lr=0.1,0.01",
        "trainer.max_epochs=2",
        f"logger.mlflow.tracking_uri=file:{store}",
        f"hydra.sweep.dir={sweep_dir}",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = mlflow_runs(store)
    (parent,) = [run for run in runs if run.data.tags.get("dlbench.kind") == "sweep"]
    children = [run for run in runs if run is not parent]
    assert len(children) == 2
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in children)
    assert sorted(run.data.params["optimizer.lr"] for run in children) == ["0.01", "0.1"]
    # named by the swept key only: the overrides every job shares are in the params, not the name
    assert sorted(run.info.run_name for run in children) == ["optimizer.lr=0.01", "optimizer.lr=0.1"]
    assert parent.info.status == "FINISHED" and parent.info.run_name == sweep_dir.parent.name + "_sweep"
    report_artifacts = MlflowClient(f"file:{store}").list_artifacts(parent.info.run_id, "report")
    assert {"report/report.md", "report/report.csv"} <= {item.path for item in report_artifacts}

    report = (sweep_dir / "report.md").read_text()
    for job in ("0", "1"):
        records = read_records(sweep_dir / job)
        assert records["mlflow"]["parent_run_id"] == parent.info.run_id
        assert records["mlflow"]["run_id"] in report and records["tensorboard"]["log_dir"] in report
    assert f"tensorboard --logdir {sweep_dir}" in report and parent.info.run_id in report
    rows = (sweep_dir / "report.csv").read_text().splitlines()
    assert rows[0].endswith("tensorboard_dir,mlflow_run")
    # TensorBoard sees both jobs as runs of the sweep directory, each with its HParams session
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(sweep_dir))
    multiplexer.Reload()
    assert sorted(multiplexer.Runs()) == [os.path.join("0", "tensorboard"), os.path.join("1", "tensorboard")]


@pytest.mark.slow
def test_the_jobs_of_a_wandb_spec_run_here_nest_under_one_parent_too(tmp_path: Path) -> None:
    """`python -m dlbench.sweep spec.yaml` runs each job as a single train.py run: the same nesting."""
    import subprocess
    import sys

    import yaml

    from helpers import ROOT

    store, sweep_dir = tmp_path / "mlruns", tmp_path / "sweep"
    spec = tmp_path / "lr.yaml"
    command = ["${env}", "${interpreter}", "${program}", "logger=[csv,mlflow]", "${args_no_hyphens}"]
    spec.write_text(
        yaml.safe_dump(
            {
                "program": "train.py",
                "method": "grid",
                "metric": {"name": "val/loss", "goal": "minimize"},
                "parameters": {"optimizer.lr": {"values": [0.1, 0.01]}},
                "command": command,
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "dlbench.sweep", str(spec), "--sweep-dir", str(sweep_dir), "trainer.max_epochs=2"]
        + [f"logger.mlflow.tracking_uri=file:{store}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = mlflow_runs(store)
    (parent,) = [run for run in runs if run.data.tags.get("dlbench.kind") == "sweep"]
    children = [run for run in runs if run is not parent]
    assert len(children) == 2 and parent.info.status == "FINISHED"
    assert all(run.data.tags["mlflow.parentRunId"] == parent.info.run_id for run in children)
