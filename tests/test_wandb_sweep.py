"""W&B sweep specs run locally through W&B's open-source engine (`sweeps`), no account needed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dlbench.loggers.wandb_logger import sweep_group
from dlbench.sweep import ROOT, check_parameters, fixed_arguments, load_spec, main
from test_wandb_logger import inspect_summary, offline_runs, run_record

SPECS = sorted((ROOT / "sweeps" / "wandb").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _offline(no_account: None) -> None:
    """Every sweep here runs as a user without a W&B account (the fixture lives in conftest)."""


COMMAND = ["${env}", "${interpreter}", "${program}", "logger=[csv,wandb]", "${args_no_hyphens}"]


def write_spec(path: Path, parameters: dict, method: str = "grid", **extra) -> Path:
    spec = {
        "program": "train.py",
        "name": "test",
        "method": method,
        "metric": {"name": "val/loss", "goal": "minimize"},
        "parameters": parameters,
        "command": COMMAND,
    }
    spec.update(extra)
    path.write_text(yaml.safe_dump(spec))
    return path


def run_sweep_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlbench.sweep", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
def test_a_grid_spec_over_two_learning_rates_runs_locally_and_writes_the_report(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "lr.yaml", {"optimizer.lr": {"values": [0.1, 0.01]}})
    sweep_dir = tmp_path / "multirun" / "2026-01-01" / "12-00-00-wandb-lr"
    result = run_sweep_cli(str(spec), "--sweep-dir", str(sweep_dir), "trainer.max_epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]

    rows = list(csv.DictReader((sweep_dir / "report.csv").open()))
    assert sorted(float(row["optimizer.lr"]) for row in rows) == [0.01, 0.1]
    assert all(row["status"] == "completed" for row in rows)
    assert (sweep_dir / "report.md").exists() and list(sweep_dir.glob("*.png"))

    job_runs = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert len(job_runs) == 2
    (report_run,) = offline_runs(sweep_dir / "wandb")
    records = [run_record(run) for run in [*job_runs, report_run]]
    assert {record["run_group"] for record in records} == {sweep_group(sweep_dir)}
    assert [record.get("job_type") for record in records] == ["train", "train", "report"]
    assert sorted(inspect_summary(run)["config"]["optimizer.lr"] for run in job_runs) == [0.01, 0.1]
    report_summary = inspect_summary(report_run)["summary"]
    assert any(
        key.startswith("report/") and value.get("_type") == "image-file" for key, value in report_summary.items()
    )
    assert report_summary["report/report"]["_type"] == "table-file"


def test_a_parameter_the_config_lacks_is_named_with_the_nearest_keys_before_any_job(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "typo.yaml", {"optimizer.lrr": {"values": [0.1, 0.01]}})
    sweep_dir = tmp_path / "sweep"
    assert main([str(spec), "--sweep-dir", str(sweep_dir)]) == 2
    error = capsys.readouterr().err
    assert "'optimizer.lrr'" in error and "optimizer.lr" in error
    assert error.count("\n") == 1
    assert not sweep_dir.exists()


def test_a_group_option_that_does_not_exist_is_refused(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "group.yaml", {"optimizer": {"values": ["sgd", "nosuchoptimizer"]}})
    assert main([str(spec), "--sweep-dir", str(tmp_path / "sweep")]) == 2
    assert "optimizer=nosuchoptimizer" in capsys.readouterr().err


def test_an_endless_search_needs_a_cap(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "random.yaml", {"optimizer.lr": {"min": 0.001, "max": 0.1}}, method="random")
    assert main([str(spec), "--sweep-dir", str(tmp_path / "sweep")]) == 2
    assert "run_cap" in capsys.readouterr().err


def test_a_spec_w_and_b_would_reject_is_refused(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path / "bad.yaml", {"optimizer.lr": {"valuez": [0.1]}})
    assert main([str(spec), "--sweep-dir", str(tmp_path / "sweep")]) == 2
    assert "not a valid W&B sweep spec" in capsys.readouterr().err


@pytest.mark.parametrize("spec_path", SPECS, ids=[path.stem for path in SPECS])
def test_the_shipped_specs_are_valid_and_name_real_keys(spec_path: Path) -> None:
    spec = load_spec(spec_path)
    assert "${args_no_hyphens}" in spec["command"], "the agent must pass Hydra-style key=value overrides"
    check_parameters(spec, fixed_arguments(spec))


@pytest.mark.slow
def test_a_bayes_spec_feeds_results_back_and_stops_at_its_cap(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path / "bayes.yaml",
        {"optimizer.lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.5}},
        method="bayes",
        run_cap=3,
        command=["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
    )
    sweep_dir = tmp_path / "sweep"
    result = run_sweep_cli(str(spec), "--sweep-dir", str(sweep_dir), "trainer.max_epochs=1")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((sweep_dir / "report.csv").open()))
    assert len(rows) == 3
    assert len({row["optimizer.lr"] for row in rows}) == 3


@pytest.mark.slow
def test_hyperband_stops_a_job_that_falls_behind(tmp_path: Path) -> None:
    """eta=3: a running job whose first-epoch loss is worse than the best third of all jobs stops."""
    spec = write_spec(
        tmp_path / "hyperband.yaml",
        {"optimizer.lr": {"values": [0.1, 0.00001]}},
        early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
        command=["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
    )
    sweep_dir = tmp_path / "sweep"
    # enough epochs that a job outlasts the runner's once-a-second look at metrics.csv: 40 Iris
    # epochs now train in about a second, and a job that ends first cannot be stopped
    epochs = 300
    result = run_sweep_cli(str(spec), "--sweep-dir", str(sweep_dir), f"trainer.max_epochs={epochs}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {float(row["optimizer.lr"]): row for row in csv.DictReader((sweep_dir / "report.csv").open())}
    assert rows[0.1]["status"] == "completed" and int(rows[0.1]["epochs_run"]) == epochs
    assert rows[0.00001]["status"] == "interrupted" and int(rows[0.00001]["epochs_run"]) < epochs
    assert "job 1: stopped early by hyperband" in result.stdout
