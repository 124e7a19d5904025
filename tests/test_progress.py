"""The progress bar in a log file: whole lines, one per update, never a line of carriage returns."""

from __future__ import annotations

import io
import re
from pathlib import Path

from dlbench.callbacks.progress import LineProgress, LineProgressBar, progress_bar
from dlbench.run import train
from helpers import run_cli


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
    train(make_cfg("tune=lr", "trainer.max_epochs=1"))  # trainer.enable_progress_bar=false by default
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


def test_outside_a_terminal_the_bar_is_the_line_one() -> None:
    assert isinstance(progress_bar(enabled=True), LineProgressBar)  # pytest's captured stdout is no terminal
    assert progress_bar(enabled=False).enabled is False  # left out of the trainer, as Lightning requires
