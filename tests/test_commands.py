"""`dlbench <command>` and `python -m dlbench <command>`: the same program as `python train.py`, from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

DLBENCH = Path(sys.executable).parent / "dlbench"  # the console script of `pip install -e .`


def run(command: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment)


def test_the_console_script_is_installed() -> None:
    assert DLBENCH.exists(), "pip install -e . makes it ([project.scripts] in pyproject.toml)"


@pytest.mark.parametrize("entry", [[str(DLBENCH)], [sys.executable, "-m", "dlbench"]], ids=["dlbench", "python-m"])
def test_help_lists_the_four_commands(entry: list[str], tmp_path: Path) -> None:
    result = run([*entry, "--help"], tmp_path)
    assert result.returncode == 0
    for command in ("train", "report", "sweep", "gradcheck"):
        assert f"\n  {command} " in result.stdout


def test_dlbench_train_composes_what_python_train_py_composes_from_another_directory(tmp_path: Path) -> None:
    """Hydra's own flags and overrides pass through unchanged; the configs come from the checkout."""
    arguments = ["model=lenet", "dataset=digits", "dataset.size=28", "optimizer=adam", "--cfg", "job"]
    reference = run([sys.executable, str(ROOT / "train.py"), *arguments], ROOT)
    through_cli = run([str(DLBENCH), "train", *arguments], tmp_path)
    assert reference.returncode == through_cli.returncode == 0, through_cli.stderr
    assert through_cli.stdout == reference.stdout and "_target_: dlbench.models.lenet.LeNet" in reference.stdout
    hydra_help = run([str(DLBENCH), "train", "--help"], tmp_path)
    assert hydra_help.returncode == 0 and "model: alexnet, autoencoder" in hydra_help.stdout


def test_a_mistake_gives_train_py_s_exit_status_and_sentence(tmp_path: Path) -> None:
    result = run([str(DLBENCH), "train", "trainer.max_epochs=1", "dataset.batch_size=0"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: dataset.batch_size=0 must be a whole number >= 1")


def test_an_unknown_command_names_the_commands(tmp_path: Path) -> None:
    result = run([sys.executable, "-m", "dlbench", "trian"], tmp_path)
    assert result.returncode == 2 and "use one of train, report, sweep, gradcheck" in result.stderr


@pytest.mark.slow
def test_dlbench_train_runs_a_multirun_and_dlbench_report_remakes_its_report(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    result = run(
        [str(DLBENCH), "train", "-m", "optimizer.lr=0.1,0.01", "trainer.max_epochs=2", f"hydra.sweep.dir={sweep_dir}"],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep_dir / "0" / "summary.json").exists() and (sweep_dir / "1" / "summary.json").exists()
    assert (sweep_dir / "0" / "train.log").exists(), "the job name is train, as with python train.py"
    report = sweep_dir / "report.md"
    first = report.read_text()
    report.unlink()
    again = run([str(DLBENCH), "report", str(sweep_dir)], tmp_path)
    assert again.returncode == 0 and report.read_text() == first
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").iterdir())
