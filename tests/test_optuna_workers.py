"""One Optuna study, several sweep processes: the way a search spreads over machines.

Two `python train.py -m hparams_search=optuna` processes are started on one journal file (Optuna's
storage for a shared filesystem) and one sweep directory; together they run the study's n_trials,
with no trial drawn twice, each in its own run directory, and the report of the last to end holds
every trial.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT


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
