"""Every command of the README's Usage block works as written, and a run prints no noise."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from dlbench.config.compose import compose_config
from dlbench.records.summary import load_summary
from dlbench.run import train
from helpers import ROOT, run_cli

CHEAP = {  # one short epoch: the command's own choices are what is checked
    "trainer.max_epochs": "1",
    "+trainer.limit_train_batches": "2",
    "+trainer.limit_val_batches": "2",
    "+trainer.limit_test_batches": "2",
    "callbacks.pictures.enabled": "false",
}


def usage_commands() -> list[list[str]]:
    """The argument lists of the `python train.py ...` lines in the README's Usage block."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Usage\s+```bash\n(.*?)```", readme, re.S)
    assert block, "README has a Usage block"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["python", "train.py"]:
            commands.append(words[2:])
    return commands


def cheaply(arguments: list[str]) -> list[str]:
    given = {argument.split("=", 1)[0] for argument in arguments}
    return [*arguments, *(f"{key}={value}" for key, value in CHEAP.items() if key not in given)]


SINGLE = [arguments for arguments in usage_commands() if not set(arguments) & {"-m", "--cfg", "--help"}]
OTHER = [arguments for arguments in usage_commands() if arguments not in SINGLE]


def test_the_usage_block_is_read() -> None:
    assert len(SINGLE) >= 6 and ["--help"] in OTHER and ["-m", "sweep=lr"] in OTHER
    assert ["model=lenet", "dataset=digits", "dataset.size=28", "optimizer=adam"] in SINGLE


@pytest.mark.parametrize("arguments", SINGLE, ids=" ".join)
def test_each_single_run_of_the_usage_block_runs(arguments: list[str], tmp_path: Path, no_account) -> None:
    """Each command trains its epoch with what it names, tests, and leaves a complete record."""
    run_dir = tmp_path / "run"
    try:
        best = train(compose_config(cheaply(arguments), run_dir))
    finally:
        GlobalHydra.instance().clear()
    summary = load_summary(run_dir)
    assert summary.status == "completed", summary.stop_reason
    assert summary.epochs_run == summary.config["trainer"]["max_epochs"], "trained as long as the command says"
    assert summary.metrics.test, "then tested"
    assert summary.overrides == cheaply(arguments), "the run was made with the command's own overrides"
    assert summary.best is not None and best == summary.best.value
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "metrics.csv").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("arguments", OTHER, ids=" ".join)
def test_each_other_command_of_the_usage_block_runs(arguments: list[str], tmp_path: Path) -> None:
    extra = cheaply(arguments) if "-m" in arguments else arguments
    where = [f"hydra.sweep.dir={tmp_path / 'sweep'}"] if "-m" in arguments else [f"hydra.run.dir={tmp_path}/run"]
    result = run_cli(*extra, *where, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_help_lists_only_groups_a_run_can_use() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "sweep: activation" in result.stdout
    assert "sweep/wandb" not in result.stdout, "W&B sweep specs are not a config group"


def test_a_run_prints_no_lightning_advertisement_or_checkpoint_warnings(tmp_path: Path) -> None:
    first = run_cli(f"hydra.run.dir={tmp_path}/first", *cheaply([]))
    last = f"{tmp_path}/first/checkpoints/last.ckpt"
    resumed = run_cli(f"hydra.run.dir={tmp_path}/second", f"ckpt_path={last}", *cheaply([]), "trainer.max_epochs=2")
    for result in (first, resumed):
        assert result.returncode == 0, result.stderr[-3000:]
        output = result.stdout + result.stderr
        assert "Tip:" not in output and "litlogger" not in output
        assert "dirpath has changed" not in output and "multiple `ModelCheckpoint`" not in output
