"""What lightning-hydra-template users expect: the config tree at the start, `tags`, a
git-ignored `configs/local/` picked up when present, `predict`, callbacks as files."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from dlbench.config.plan import plain
from dlbench.config.tree import print_config
from helpers import ROOT


def compose(config_dir: Path, *overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=list(overrides))


def test_the_config_tree_shows_each_group_and_the_values_given(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    config = plain(make_cfg("optimizer.lr=0.25", "tags=[baseline]"))
    stream = io.StringIO()
    assert print_config(config, True, stream=stream)
    text = stream.getvalue()
    for group in ("dataset", "model", "optimizer", "trainer", "callbacks"):
        assert f"── {group}" in text
    assert "lr: 0.25" in text and "baseline" in text
    silent = io.StringIO()
    assert not print_config(config, None, stream=silent) and silent.getvalue() == ""  # pytest's stdout: no terminal
    assert not print_config(config, False, stream=silent)


def test_tags_reach_the_loggers_config(make_cfg) -> None:
    cfg = make_cfg("tags=[baseline,v2]", "logger=[csv,wandb,mlflow]")
    assert list(cfg.logger.wandb.tags) == ["baseline", "v2"]
    assert list(cfg.logger.mlflow.tags) == ["baseline", "v2"]


def test_configs_local_is_picked_up_when_present_and_git_ignored(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs)
    assert compose(configs).trainer.max_epochs == 100  # no configs/local/default.yaml: the defaults
    (configs / "local" / "default.yaml").write_text("# @package _global_\ntrainer:\n  max_epochs: 7\n")
    assert compose(configs).trainer.max_epochs == 7
    assert compose(configs, "trainer.max_epochs=3").trainer.max_epochs == 3  # the command line still wins
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "configs/local/default.yaml"], cwd=ROOT, capture_output=True, check=False
    )
    assert ignored.returncode == 0, "configs/local/default.yaml must be git-ignored"


def test_predict_writes_the_tested_weights_predictions_and_they_score_as_the_test_did(make_cfg, tmp_path: Path) -> None:
    import csv
    import json

    from dlbench.run import train

    train(make_cfg("trainer.max_epochs=3", "predict=test"))
    run_dir = tmp_path / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "predictions_test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {"index", "target", "predicted", "p_0", "p_1", "p_2"} <= set(rows[0])
    accuracy = sum(row["target"] == row["predicted"] for row in rows) / len(rows)
    assert accuracy == pytest.approx(summary["metrics"]["test"]["acc"])
    assert all(abs(sum(float(row[f"p_{k}"]) for k in range(3)) - 1) < 1e-5 for row in rows)

    # the same checkpoint evaluated alone gives the same file
    best = summary["checkpoints"]["best"]
    again = tmp_path / "again"
    train(make_cfg("train=false", f"ckpt_path={best}", "predict=test", output_dir=again))
    assert (again / "predictions_test.csv").read_text() == (run_dir / "predictions_test.csv").read_text()


def test_callbacks_are_files_a_command_line_picks(make_cfg, tmp_path: Path) -> None:
    """`callbacks=[default,early_stopping]` adds a callback file to the default set (and the run stops
    early by it); `callbacks=[model_checkpoint]` keeps only that one (no pictures are drawn)."""
    from dlbench.records.summary import load_summary
    from dlbench.run import train

    added = make_cfg(
        "callbacks=[default,early_stopping]",
        "callbacks.early_stopping.min_delta=10.0",  # no epoch improves the loss by 10: it stops after `patience`
        "callbacks.early_stopping.patience=2",
        "trainer.max_epochs=30",
        output_dir=tmp_path / "added",
    )
    assert list(added.callbacks) == [
        "model_checkpoint",
        "model_summary",
        "pictures",
        "layer_stats",
        "progress_bar",
        "early_stopping",
    ]
    train(added)
    summary = load_summary(tmp_path / "added")
    assert summary.epochs_run == 3 and summary.stop_reason.startswith("early stopping at epoch 2")
    only = make_cfg("callbacks=[model_checkpoint]", "trainer.max_epochs=2", output_dir=tmp_path / "only")
    assert list(only.callbacks) == ["model_checkpoint"]
    train(only)
    assert (tmp_path / "only" / "checkpoints" / "last.ckpt").is_file() and not (tmp_path / "only" / "pictures").exists()
