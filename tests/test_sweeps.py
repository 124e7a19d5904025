"""Multiruns as a user starts them: named sweeps, launchers, failed jobs, the Optuna search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from omegaconf import OmegaConf

FAST = ("trainer.max_epochs=2",)


def report_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob("*/summary.json")}


def test_named_sweep_runs_every_value_and_writes_the_report(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "lr"
    result = run_cli("-m", "sweep=lr", *FAST, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = report_rows(sweep_dir)
    assert [row["optimizer.lr"] for row in rows] == ["0.1", "0.01", "0.001", "0.0001"]
    assert [row["status"] for row in rows] == ["completed"] * 4
    assert {row["epochs_run"] for row in rows} == {"2"}
    markdown = (sweep_dir / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(table) == 1 + 4  # the header and one row per job
    assert (sweep_dir / "val_curves.png").stat().st_size > 0
    assert (sweep_dir / "final_vs_optimizer_lr.png").stat().st_size > 0
    assert len(set(summaries(sweep_dir))) == 4  # four run directories, none shared


def test_every_named_sweep_is_listed_for_an_unknown_name() -> None:
    result = run_cli("-m", "sweep=learning_rate")
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "Could not find 'sweep/learning_rate'" in message
    for path in (ROOT / "sweeps").glob("*.yaml"):
        assert f"\t{path.stem}\n" in message


def test_a_swept_key_missing_from_the_config_gets_hydras_message() -> None:
    result = run_cli("-m", "optimizer.lr_typo=0.1,0.01")
    assert result.returncode != 0
    assert "Could not override 'optimizer.lr_typo'" in result.stderr


def test_diverged_and_failed_jobs_do_not_stop_the_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "bad"
    # lr=1e10 diverges; batch_size=0 is refused before training: each is one job of four.
    result = run_cli("-m", "optimizer.lr=0.1,1e10", "dataset.batch_size=16,0", *FAST, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {(float(row["optimizer.lr"]), row["dataset.batch_size"]): row for row in report_rows(sweep_dir)}
    assert rows[(0.1, "16")]["status"] == "completed"
    assert rows[(1e10, "16")]["status"] == "diverged"
    assert "nan" in rows[(1e10, "16")]["stop_reason"] or "inf" in rows[(1e10, "16")]["stop_reason"]
    assert rows[(0.1, "0")]["status"] == "failed"
    assert "batch_size=0" in rows[(0.1, "0")]["stop_reason"]
    assert rows[(1e10, "0")]["status"] == "failed"
    assert "4 jobs; completed: 1, diverged: 1, failed: 2" in (sweep_dir / "report.md").read_text()


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_at_once_in_their_own_directories(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "joblib"
    result = run_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optimizer.lr=0.1,0.01", *FAST, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    found = summaries(sweep_dir)
    assert sorted(found) == ["0", "1"]
    assert {Path(summary["run_dir"]).name for summary in found.values()} == {"0", "1"}
    assert sorted(summary["lr"] for summary in found.values()) == [0.01, 0.1]
    assert [row["status"] for row in report_rows(sweep_dir)] == ["completed", "completed"]


def _study(sweep_dir: Path):
    import optuna

    return optuna.load_study(study_name="dlbench", storage=f"sqlite:///{sweep_dir}/optuna.db")


@pytest.mark.slow
def test_optuna_search_returns_its_best_value_and_resumes_from_its_storage(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "search"
    search = ("-m", "hparams_search=optuna", *FAST, f"hydra.sweep.dir={sweep_dir}")
    result = run_cli(*search, "hydra.sweeper.n_trials=3")
    assert result.returncode == 0, result.stderr[-3000:]
    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    best_values = [summary["best"]["value"] for summary in summaries(sweep_dir).values()]
    assert len(best_values) == 3
    assert results.best_value == pytest.approx(min(best_values))  # minimises the monitored val/loss
    assert f"Best value: {results.best_value}" in result.stdout
    assert len(report_rows(sweep_dir)) == 3

    # Interrupt a search the way a killed process does: a trial asked for and never told.
    first = _study(sweep_dir)
    first_params = [trial.params for trial in first.trials]
    first.ask()

    resumed = run_cli(*search, "hydra.sweeper.n_trials=4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _study(sweep_dir).trials
    assert [trial.params for trial in trials[:3]] == first_params  # the stored trials were kept
    assert trials[3].state == TrialState.FAIL  # the interrupted one is closed...
    assert trials[4].state == TrialState.COMPLETE  # ...and one more trial brings the count to 4
    assert len(trials) == 5
    assert sorted(summaries(sweep_dir)) == ["0", "1", "2", "4"]  # no earlier run directory overwritten
    assert OmegaConf.load(sweep_dir / "optimization_results.yaml").n_completed == 4


@pytest.mark.slow
def test_optuna_search_goes_on_past_diverging_trials(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "diverging"
    result = run_cli(
        "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "optimizer.lr=interval(1e9,1e10)",
        "trainer.max_epochs=1", f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [trial.state for trial in _study(sweep_dir).trials] == [TrialState.FAIL, TrialState.FAIL]
    assert [row["status"] for row in report_rows(sweep_dir)] == ["diverged", "diverged"]
    assert not (sweep_dir / "optimization_results.yaml").exists()  # no best value to claim
