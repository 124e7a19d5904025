"""No environment secret in a run's records (`dlbench.config.redaction`).

A config that reads a token from the environment (`${oc.env:NAME}`) uses it, but every file of
the run directory (summary.json, metrics.csv, the checkpoints, the loggers' hyperparameters,
Hydra's own files, train.log) keeps `${oc.env:NAME}`, so a record can be shared.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import run_cli

SECRET = "hunter2-not-for-the-record-7f3a"


@pytest.mark.parametrize("loggers", ["[csv,tensorboard]"])
def test_a_secret_read_from_the_environment_is_in_no_file_of_the_run(tmp_path: Path, loggers: str) -> None:
    run_dir = tmp_path / "run"
    result = run_cli(
        f"hydra.run.dir={run_dir}",
        f"logger={loggers}",
        "callbacks.pictures.enabled=false",
        "trainer.max_epochs=2",
        "+paths.token=${oc.env:DLBENCH_TEST_TOKEN}",  # read directly
        "+paths.endpoint=https://host/${paths.token}/v1",  # and copied into a longer value
        env={"DLBENCH_TEST_TOKEN": SECRET},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"summary.json", "metrics.csv", "last.ckpt", "best.ckpt"} <= names, names
    assert any(name.startswith("events.out.tfevents") for name in names), names
    leaked = [str(path.relative_to(run_dir)) for path in files if SECRET.encode() in path.read_bytes()]
    assert leaked == [], f"the secret is written in {leaked}"
    assert SECRET not in result.stdout + result.stderr
    # the records say where the value came from
    stored = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["dlbench_config"]["paths"]
    assert stored["token"] == "${oc.env:DLBENCH_TEST_TOKEN}"
    assert stored["endpoint"] == "https://host/${oc.env:DLBENCH_TEST_TOKEN}/v1"
    assert "${oc.env:DLBENCH_TEST_TOKEN}" in (run_dir / "summary.json").read_text()
