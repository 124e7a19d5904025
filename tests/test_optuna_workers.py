"""One Optuna study, several sweep processes: the way a search spreads over machines.

Two `python train.py -m hparams_search=optuna` processes are started on one journal file (Optuna's
storage for a shared filesystem) and one sweep directory; together they run the study's n_trials,
with no trial drawn twice, each in its own run directory, and the report of the last to end holds
every trial.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, run_cli


@pytest.mark.slow
def test_two_workers_on_one_journal_file_share_the_study(tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    sweep_dir, journal = tmp_path / "search", tmp_path / "shared" / "study.log"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.storage=journal:{journal}",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ]
    workers.append(
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    )
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), "\n".join(output[-2000:] for output in outputs)

    study = optuna.load_study(study_name="dlbench", storage=JournalStorage(JournalFileBackend(str(journal))))
    trials = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    assert len(trials) >= 4  # the study's total; two workers asking at once may add one each (Optuna's own rule)
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == len(trials)  # no trial drawn twice
    assert len({trial.user_attrs["dlbench.worker"] for trial in trials}) == 2  # both workers took trials
    assert sorted(int(path.parent.name) for path in sweep_dir.glob("*/summary.json")) == sorted(
        trial.number for trial in trials
    )
    with (sweep_dir / "report.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(trials)


@pytest.mark.slow
def test_a_trial_worse_than_the_median_at_the_same_epoch_is_pruned(tmp_path: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "pruning"
    sweep_dir.mkdir()
    # The first two trials are chosen (Optuna's enqueue_trial): a rate that learns, then one that does not move.
    study = optuna.create_study(study_name="dlbench", storage=f"sqlite:///{sweep_dir}/optuna.db")
    for rate in (0.3, 1e-7):
        study.enqueue_trial({"optimizer.lr": rate, "dataset.batch_size": 16, "model.activation": "relu"})
    result = run_cli(
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "optimizer.lr=choice(0.3,0.0000001)",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        "trainer.max_epochs=6",
        "callbacks.pictures.enabled=false",
        f"hydra.sweep.dir={sweep_dir}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    first, second = optuna.load_study(study_name="dlbench", storage=f"sqlite:///{sweep_dir}/optuna.db").trials
    assert first.state == TrialState.COMPLETE and sorted(first.intermediate_values) == list(range(6))
    assert second.state == TrialState.PRUNED, second.intermediate_values
    epochs = sorted(second.intermediate_values)  # the epochs it reported, which the pruner read
    assert epochs == [0, 1]  # pruned at the first epoch past the warm-up
    assert second.intermediate_values[1] > first.intermediate_values[1]  # worse than the median (trial 0)
    summary = json.loads((sweep_dir / "1" / "summary.json").read_text())
    assert summary["epochs_run"] == 2  # it stopped where it was pruned
    assert "trial 1 pruned after epoch 1" in result.stdout
