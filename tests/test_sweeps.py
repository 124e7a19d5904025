"""Multiruns as a user starts them: named sweeps, launchers, failed jobs, the Optuna search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from helpers import CONFIGS, ROOT, run_cli

FAST = ("trainer.max_epochs=2",)


def report_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "report.csv").open() as handle:
        return list(csv.DictReader(handle))


def summaries(sweep_dir: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text()) for path in sweep_dir.glob("*/summary.json")}


@pytest.mark.slow
def test_named_sweep_runs_every_value_and_writes_the_report(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "lr"
    result = run_cli("-m", "sweep=lr", *FAST, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = report_rows(sweep_dir)
    assert [row["optimizer.lr"] for row in rows] == ["10", "1", "0.1", "0.01", "0.001"]
    assert [row["status"] for row in rows] == ["completed"] * 5
    assert {row["epochs_run"] for row in rows} == {"2"}
    markdown = (sweep_dir / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert len(table) == 1 + 5  # the header and one row per job
    assert (sweep_dir / "val_curves.png").stat().st_size > 0
    assert (sweep_dir / "final_vs_optimizer_lr.png").stat().st_size > 0
    assert len(set(summaries(sweep_dir))) == 5  # five run directories, none shared


NAMED_SWEEPS = {
    "lr": {"optimizer.lr": "10,1,0.1,0.01,0.001"},
    "batch_size": {"dataset.batch_size": "16,32,64,128,full"},
    "early_stopping": {"callbacks.early_stopping.patience": "1000,3,5,10"},
    "optimizer": {"optimizer": "sgd,momentum,nesterov,adagrad,rmsprop,adam"},
    "activation": {"model.activation": "sigmoid,tanh,relu,leaky_relu,elu"},
    "initializer": {"initializer": "zeros,normal,xavier_uniform,he_normal,orthogonal"},
    "regularizer": {"regularizer": "[],[l2],[dropout],[batchnorm],[l2,dropout],[dropout,batchnorm]"},
    "mirror_1986": {"seed": "range(10)"},
    "inverse_mse_vs_mdn": {"loss": "mse,gaussian_nll,mdn"},
    "segmentation_losses": {"loss": "cross_entropy,dice,wasserstein_dice"},
    "encoder_decoder_skips": {"model.skips": "false,true"},
}


@pytest.mark.parametrize("name", sorted(NAMED_SWEEPS))
def test_named_sweep_sweeps_what_its_comment_says(name: str) -> None:
    path = ROOT / "sweeps" / f"{name}.yaml"
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_" and lines[1].startswith("# ")  # the one-line what-it-compares
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[f"sweep={name}"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    assert OmegaConf.to_container(cfg.hydra.sweeper.params) == NAMED_SWEEPS[name]


JOBS = {
    "lr": 5,
    "batch_size": 5,
    "early_stopping": 4,
    "optimizer": 6,
    "activation": 5,
    "initializer": 5,
    "regularizer": 6,
    "mirror_1986": 10,
    "inverse_mse_vs_mdn": 3,
    "segmentation_losses": 3,
    "encoder_decoder_skips": 2,
}


@pytest.mark.parametrize("name", sorted(NAMED_SWEEPS))
def test_every_job_of_a_named_sweep_builds(name: str, make_cfg, tmp_path: Path) -> None:
    """Each value names a real option (optimizer=momentum, initializer=he_normal, regularizer=[l2,dropout], ...)
    and builds the data, model, initialisation, callbacks and Trainer that job would train."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from dlbench.run import build

    ((key, values),) = NAMED_SWEEPS[name].items()
    jobs = list(OverridesParser.create().parse_override(f"{key}={values}").sweep_string_iterator())
    assert len(jobs) == JOBS[name]
    for number, value in enumerate(jobs):
        cfg = make_cfg(f"sweep={name}", f"{key}={value}", output_dir=tmp_path / str(number))
        _, task, trainer = build(cfg)
        optimizer = task.configure_optimizers()
        assert optimizer.param_groups[0]["lr"] == cfg.optimizer.lr
        assert trainer.max_epochs == cfg.trainer.max_epochs


def test_named_sweeps_are_all_tested() -> None:
    assert {path.stem for path in (ROOT / "sweeps").glob("*.yaml")} == set(NAMED_SWEEPS)


def test_every_named_sweep_is_listed_for_an_unknown_name() -> None:
    result = run_cli("-m", "sweep=learning_rate")
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "Could not find 'sweep/learning_rate'" in message
    choices = message.split("choose one of: ", 1)[1]
    for path in (ROOT / "sweeps").glob("*.yaml"):
        assert path.stem in choices.rstrip().rstrip(".").split(", ")


def test_a_swept_key_missing_from_the_config_is_named_with_the_nearest_key() -> None:
    result = run_cli("-m", "optimizer.lr_typo=0.1,0.01")
    assert result.returncode == 2
    assert "optimizer.lr_typo is not a key of the config; did you mean optimizer.lr?" in result.stderr


@pytest.mark.slow
def test_diverged_and_failed_jobs_do_not_stop_the_sweep(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "bad"
    # lr=1e10 diverges; batch_size=0 is refused before training: each is one job of four.
    result = run_cli("-m", "optimizer.lr=0.1,1e10", "dataset.batch_size=16,0", *FAST, f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 1, "a sweep with failed jobs exits non-zero; " + result.stderr[-3000:]
    assert "2 of 4 jobs failed" in result.stderr
    table = result.stdout[result.stdout.index("sweep done: 4 jobs") :]  # the sweep's last word: its table
    assert all(status in table for status in ("completed", "diverged", "failed"))
    rows = {(float(row["optimizer.lr"]), row["dataset.batch_size"]): row for row in report_rows(sweep_dir)}
    assert rows[(0.1, "16")]["status"] == "completed"
    assert rows[(1e10, "16")]["status"] == "diverged"
    assert "nan" in rows[(1e10, "16")]["stop_reason"] or "inf" in rows[(1e10, "16")]["stop_reason"]
    assert rows[(0.1, "0")]["status"] == "failed"
    assert "batch_size=0" in rows[(0.1, "0")]["stop_reason"]
    assert rows[(1e10, "0")]["status"] == "failed"
    assert "4 jobs; completed: 1, diverged: 1, failed: 2" in (sweep_dir / "report.md").read_text()


@pytest.mark.slow
def test_a_job_that_raises_is_reported_and_the_sweep_finishes(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "raises"
    # The Trainer has no such argument: each job raises while it is built, past the config checks.
    result = run_cli("-m", "+trainer.no_such_argument=1,2", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 1, result.stderr[-3000:]
    rows = report_rows(sweep_dir)
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert all("no_such_argument" in row["stop_reason"] for row in rows)
    assert "traceback" in summaries(sweep_dir)["0"]


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_at_once_in_their_own_directories(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "joblib"
    result = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optimizer.lr=0.1,0.01",
        *FAST,
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    found = summaries(sweep_dir)
    assert sorted(found) == ["0", "1"]
    assert {Path(summary["run_dir"]).name for summary in found.values()} == {"0", "1"}
    assert sorted(summary["lr"] for summary in found.values()) == [0.01, 0.1]
    assert [row["status"] for row in report_rows(sweep_dir)] == ["completed", "completed"]


@pytest.mark.slow
def test_submitit_local_launcher_ends_with_the_report(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "submitit"
    result = run_cli(
        "-m", "hydra/launcher=submitit_local", "optimizer.lr=0.1,0.01", *FAST, f"hydra.sweep.dir={sweep_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep_dir / ".submitit").is_dir()  # the jobs really went through submitit
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
    # The resumed search draws new values: the sampler is seeded per trial number, not started over.
    completed = [tuple(sorted(trial.params.items())) for trial in trials if trial.state == TrialState.COMPLETE]
    assert len(set(completed)) == 4
    best_params = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml").best_params)
    assert isinstance(best_params["dataset.batch_size"], int)  # typed as choice(8, 16, 32, 64) says
    assert isinstance(best_params["model.activation"], str) and isinstance(best_params["optimizer.lr"], float)
    assert sorted(summaries(sweep_dir)) == ["0", "1", "2", "4"]  # no earlier run directory overwritten
    assert OmegaConf.load(sweep_dir / "optimization_results.yaml").n_completed == 4


@pytest.mark.slow
def test_optuna_search_goes_on_past_diverging_trials(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "diverging"
    result = run_cli(
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=interval(1e9,1e10)",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [trial.state for trial in _study(sweep_dir).trials] == [TrialState.FAIL, TrialState.FAIL]
    assert [row["status"] for row in report_rows(sweep_dir)] == ["diverged", "diverged"]
    assert not (sweep_dir / "optimization_results.yaml").exists()  # no best value to claim


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("optimizer.lr=tag(log, interval(1e-4, 0.1))", ("FloatDistribution", {"low": 1e-4, "high": 0.1, "log": True})),
        ("model.depth=tag(int, interval(1, 4))", ("IntDistribution", {"low": 1, "high": 4, "log": False})),
        ("dataset.batch_size=range(16, 80, 16)", ("IntDistribution", {"low": 16, "high": 64, "step": 16})),
        ("model.activation=choice(relu, tanh)", ("CategoricalDistribution", {"choices": ("relu", "tanh")})),
        ("dataset.batch_size=16,full", ("CategoricalDistribution", {"choices": (16, "full")})),
        ("dataset.batch_size=choice(8, 16)", ("CategoricalDistribution", {"choices": (8, 16)})),
    ],
)
def test_search_space_is_read_in_hydras_sweep_syntax(line: str, expected: tuple[str, dict]) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.dlbench_optuna_sweeper.optuna_sweeper import distribution

    found = distribution(OverridesParser.create().parse_override(line))
    name, attributes = expected
    assert type(found).__name__ == name
    for key, value in attributes.items():
        assert getattr(found, key) == value


@pytest.mark.slow
def test_early_stopping_is_named_as_the_stop_reason_when_the_best_epoch_came_earlier(make_cfg) -> None:
    from dlbench.run import train
    from helpers import read_summary

    # The early_stopping sweep's overfitting model, with Lightning's EarlyStopping at patience 3.
    cfg = make_cfg(
        "+callbacks.early_stopping._target_=pytorch_lightning.callbacks.EarlyStopping",
        "+callbacks.early_stopping.monitor=val/loss",
        "+callbacks.early_stopping.patience=3",
        "model.hidden=[256,256]",
        "dataset.val_fraction=0.4",
        "optimizer.lr=0.05",
        "trainer.max_epochs=60",
    )
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    assert summary["best"]["epoch"] < summary["epochs_run"] - 1 < 59  # stopped early, after its best epoch
    # Testing restores the callbacks from the best checkpoint, where EarlyStopping had not fired yet.
    assert summary["stop_reason"].startswith("early stopping")


def test_a_trial_closed_by_another_workers_start_before_it_was_tagged_is_asked_again() -> None:
    """Two workers on one storage: between `study.ask()` and tagging the trial with its worker, the
    other worker's start-up may close the untagged running trial as stale. The asking worker then
    asks for another trial instead of failing on Optuna's UpdateFinishedTrialError."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from hydra_plugins.dlbench_optuna_sweeper.optuna_sweeper import OptunaSweeper

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    real_ask = study.ask

    def racing_ask() -> optuna.Trial:
        trial = real_ask()
        study.tell(trial.number, state=TrialState.FAIL)  # the other worker's `_close_stale`
        study.ask = real_ask  # only this once
        return trial

    study.ask = racing_ask
    sweeper = OptunaSweeper.__new__(OptunaSweeper)
    sweeper._sampler = lambda number: None
    trial = sweeper._ask(study, {"optimizer.lr": FloatDistribution(0.001, 0.1)})
    assert trial.number == 1 and 0.001 <= trial.params["optimizer.lr"] <= 0.1
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.RUNNING]
