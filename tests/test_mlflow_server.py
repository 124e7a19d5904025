"""A sweep logging to a real MLflow tracking server over HTTP, read back through MLflow's client.

The server is `mlflow server` on 127.0.0.1 with a SQLite backend and its artifact store in
tmp_path, started here in its own session and stopped here by its process group id; the test
checks that no process of that session is left.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dlbench.loggers.protocol import read_records
from helpers import run_cli, stop_sessions


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_sweep_logs_to_an_mlflow_server_and_reads_back_through_the_client(tmp_path: Path) -> None:
    pytest.importorskip("flask", reason="mlflow server needs Flask (the dev extra installs it)")
    from mlflow import MlflowClient

    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    server = subprocess.Popen(
        [mlflow, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        + ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
        + ["--artifacts-destination", str(tmp_path / "artifacts")],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped by that id, with its workers
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)

        sweep_dir = tmp_path / "sweep"
        result = run_cli(
            "-m",
            "logger=[csv,mlflow]",
            f"logger.mlflow.tracking_uri={uri}",
            "optimizer.lr=0.1,0.05",
            "trainer.max_epochs=2",
            "callbacks.pictures.enabled=false",
            f"hydra.sweep.dir={sweep_dir}",
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name("dlbench")
        runs = client.search_runs([experiment.experiment_id])
        parents = [run for run in runs if run.data.tags.get("dlbench.kind") == "sweep"]
        children = [run for run in runs if run.data.tags.get("mlflow.parentRunId")]
        assert len(parents) == 1 and len(children) == 2
        assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parents[0].info.run_id}
        assert parents[0].info.status == "FINISHED"
        assert "report" in {item.path for item in client.list_artifacts(parents[0].info.run_id)}
        for run in children:
            summary = json.loads((Path(run.data.tags["dlbench.run_dir"]) / "summary.json").read_text())
            assert run.info.status == "FINISHED" and run.data.params["optimizer.lr"] in ("0.1", "0.05")
            history = client.get_metric_history(run.info.run_id, "val/loss")
            assert [point.step for point in history] == [0, 1]
            assert [point.value for point in history] == pytest.approx([row["val/loss"] for row in summary["history"]])
            served = Path(client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path)))
            assert json.loads(served.read_text())["best"] == summary["best"]  # through the server's artifact proxy
            assert read_records(summary["run_dir"])["mlflow"]["link"].startswith(f"{uri}/#/experiments/")
        assert list((tmp_path / "artifacts").rglob("summary.json"))  # stored where the server was told
    finally:
        left = stop_sessions({server.pid})
        server.wait(timeout=10)
    assert not left, f"mlflow server processes {left} still alive 30 s after SIGTERM and SIGKILL"
