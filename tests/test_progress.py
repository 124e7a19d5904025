"""The progress bar: on in a terminal by default (Rich, per epoch, the main metrics, the sweep's job),
off in a pipe, a log file or CI; in a log file on request whole lines, never a line of carriage returns."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from dlbench.callbacks.progress import LineProgress, LineProgressBar, progress_bar
from dlbench.run import train
from dlbench.terminal import watching
from helpers import run_cli, run_in_terminal


def test_tune_lr_with_the_progress_bar_writes_whole_lines_to_a_log_file(tmp_path: Path) -> None:
    """Output to pipes, as `python train.py ... > train.log 2>&1` or a cluster job's log gets it."""
    result = run_cli("tune=lr", "trainer.enable_progress_bar=true", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "\r" not in log, "a carriage return: the bar redrew itself in the file"
    epochs = [line for line in result.stdout.splitlines() if re.match(r"epoch \d+/3: ", line)]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train/loss" in line and "val/loss" in line and line.endswith(" s") for line in epochs)
    (finder,) = [line for line in result.stderr.splitlines() if line.startswith("Finding best initial lr")]
    assert re.fullmatch(r"Finding best initial lr: 100/100 steps, [\d.]+ s", finder)
    assert all(line.count("Finding best initial lr") <= 1 and line.count("epoch ") <= 1 for line in log.splitlines())


def test_no_progress_bar_means_none_from_the_lr_finder_either(make_cfg, capsys) -> None:
    train(make_cfg("tune=lr", "trainer.max_epochs=1"))  # pytest's output is no terminal: no bar by default
    captured = capsys.readouterr()
    assert "Finding best initial lr" not in captured.out + captured.err
    assert not re.search(r"^epoch \d+", captured.out, re.MULTILINE)


def test_line_progress_reports_at_most_every_every_s_and_at_the_end() -> None:
    stream = io.StringIO()
    progress = LineProgress("work", total=1000, every_s=3600, stream=stream)
    for _ in range(1000):
        progress.update()
    progress.close()
    assert stream.getvalue().count("\n") == 1 and stream.getvalue().startswith("work: 1000/1000 steps, ")


@pytest.mark.slow
def test_a_sweep_in_a_terminal_shows_each_jobs_epochs_metrics_and_which_job(tmp_path: Path) -> None:
    status, screen = run_in_terminal(
        "-m", "optimizer.lr=0.05,0.1", "trainer.max_epochs=2", f"hydra.sweep.dir={tmp_path}", "logger=[]"
    )
    assert status == 0, screen[-3000:]
    assert "job 1/2 · epoch 2/2" in screen and "job 2/2 · epoch 2/2" in screen
    assert "train/loss" in screen and "val/acc" in screen


@pytest.mark.slow
def test_one_flag_or_ci_switches_the_terminal_bar_off(tmp_path: Path) -> None:
    for index, (args, env) in enumerate(((["trainer.enable_progress_bar=false"], {}), ([], {"CI": "true"}))):
        status, screen = run_in_terminal(
            *args, "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / str(index)}", "logger=[]", env=env
        )
        assert status == 0, screen[-3000:]
        before_the_table = screen.split("dlbench run:")[0]
        assert "epoch 1/2" not in before_the_table and "train/loss" not in before_the_table


def test_by_default_the_bar_shows_where_a_person_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("sys.stdout", Terminal())
    assert watching.wants_progress(None) and not watching.wants_progress(False)
    monkeypatch.setenv("CI", "true")
    assert not watching.wants_progress(None) and watching.wants_progress(True)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.delenv("CI")
    assert not watching.wants_progress(None)  # a pipe or a log file


def test_the_label_names_the_job_of_a_sweep_or_the_population() -> None:
    try:
        watching.set_jobs(12)
        watching.set_job(2)
        assert watching.label() == "job 3/12"
        watching.set_label("population of 12, 4 done")
        assert watching.label() == "population of 12, 4 done"
        watching.set_job(None)  # the next single run: neither
        assert watching.label() is None
    finally:
        watching.set_jobs(None)


def test_outside_a_terminal_the_bar_is_the_line_one() -> None:
    assert isinstance(progress_bar(enabled=True), LineProgressBar)  # pytest's captured stdout is no terminal
    assert progress_bar(enabled=False).enabled is False  # left out of the trainer, as Lightning requires
