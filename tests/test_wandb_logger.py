"""W&B as a user meets it with no account and no network: real offline runs, read back with
W&B's own client (`wandb leet inspect`), as `wandb sync` would upload them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl

from dlbench.loggers.wandb_logger import resolve_mode, sweep_group
from dlbench.run import train
from helpers import run_cli

WANDB = str(Path(sys.executable).parent / "wandb")


@pytest.fixture(autouse=True)
def _offline(no_account: None) -> None:
    """Every test here runs as a user without a W&B account (the fixture lives in conftest)."""


def offline_runs(root: Path) -> list[Path]:
    return sorted(root.rglob("offline-run-*"))


def inspect_summary(run_dir: Path) -> dict[str, Any]:
    """State, config and summary of an offline run, as W&B's own client reads them."""
    result = subprocess.run(
        [WANDB, "leet", "inspect", "--summary", "--json", str(run_dir)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_transactions(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The records of one type in the offline run's transaction log (`metric`: its define_metric calls)."""
    result = subprocess.run(
        [WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True, timeout=60
    )
    return [record[kind] for record in map(json.loads, result.stdout.splitlines()) if record.get("type") == kind]


def run_record(run_dir: Path) -> dict[str, Any]:
    """The run record of the transaction log: it carries the group and job type."""
    result = subprocess.run(
        [WANDB, "leet", "inspect", "--json", str(run_dir)], capture_output=True, text=True, timeout=60
    )
    for line in result.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "run":
            return record["run"]
    raise AssertionError(f"no run record in {run_dir}")


def test_an_offline_run_holds_the_flat_config_metrics_and_best_value(make_cfg, tmp_path: Path, capsys) -> None:
    cfg = make_cfg("logger=[csv,wandb]", "trainer.max_epochs=3", "optimizer.lr=0.05")
    best = train(cfg)
    (run,) = offline_runs(tmp_path / "run" / "wandb")
    read = inspect_summary(run)
    summary_json = json.loads((tmp_path / "run" / "summary.json").read_text())

    assert read["state"] == "finished"
    assert read["config"]["optimizer.lr"] == 0.05
    assert read["config"]["model.hidden"] == list(cfg.model.hidden)
    assert read["config"]["dataset._target_"].endswith("Iris")
    assert not any(key.startswith("hydra") for key in read["config"])
    summary = read["summary"]
    for key in ("train/loss", "train/acc", "val/acc", "lr", "time/epoch_s", "test/acc"):
        assert key in summary, key
    assert summary["best/val/loss"] == pytest.approx(best)  # the key TensorBoard and MLflow have
    assert summary["best/val/loss"] <= summary["val/loss"]
    assert summary["parameters"] == summary_json["parameters"]
    assert summary["flops_per_example"] == summary_json["flops_per_example"]
    assert read["step"] >= 3, "one W&B step per epoch"
    assert set(read["tags"]) >= {"dataset=iris", "model=mlp", "optimizer=sgd"}

    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("W&B:")]
    assert len(lines) == 1 and f"wandb sync {run}" in lines[0]


def test_the_best_value_of_a_maximised_metric_is_the_max(make_cfg, tmp_path: Path) -> None:
    train(
        make_cfg(
            "logger=[wandb]",
            "trainer.max_epochs=3",
            "monitor=val/acc",
            "monitor_mode=max",
            "callbacks.model_checkpoint.mode=max",
        )
    )
    (run,) = offline_runs(tmp_path / "run" / "wandb")
    history = json.loads((tmp_path / "run" / "summary.json").read_text())["history"]
    assert inspect_summary(run)["summary"]["best/val/acc"] == pytest.approx(max(row["val/acc"] for row in history))


class Explode(pl.Callback):
    """A bug in the middle of training."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        raise RuntimeError("boom")


def test_a_failed_job_is_a_failed_wandb_run_and_the_next_job_gets_its_own(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "logger=[wandb]",
        "trainer.max_epochs=2",
        f"+callbacks.explode._target_={__name__}.Explode",
        output_dir=tmp_path / "failed",
    )
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg)
    (failed,) = offline_runs(tmp_path / "failed")
    read = inspect_summary(failed)
    assert read["state"] == "failed"
    assert read["summary"]["status"] == "failed"

    train(make_cfg("logger=[wandb]", "trainer.max_epochs=1", output_dir=tmp_path / "next"))
    (following,) = offline_runs(tmp_path / "next")
    assert inspect_summary(following)["run_id"] != read["run_id"]
    assert inspect_summary(following)["state"] == "finished"


def test_a_multirun_gives_one_wandb_run_per_job_in_one_group(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "multirun" / "2026-01-01" / "12-00-00-lr"
    result = run_cli(
        "-m",
        "logger=[csv,wandb]",
        "optimizer.lr=0.1,0.01",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep_dir}",
        env={"WANDB_MODE": "offline"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(sweep_dir.glob("*/wandb/offline-run-*"))
    assert len(runs) == 2
    records = [run_record(run) for run in runs]
    assert len({record["run_id"] for record in records}) == 2
    assert {record["run_group"] for record in records} == {sweep_group(sweep_dir)} == {"2026-01-01_12-00-00-lr"}
    assert sorted(inspect_summary(run)["config"]["optimizer.lr"] for run in runs) == [0.01, 0.1]
    assert all("sweep" in record["tags"] for record in records)
    assert result.stdout.count("wandb sync") == 3, "one line per job, one for the report"
    (report,) = offline_runs(sweep_dir / "wandb")
    assert run_record(report)["run_group"] == sweep_group(sweep_dir)
    assert any(key.startswith("report/") for key in inspect_summary(report)["summary"])


def test_the_pictures_of_a_run_are_logged_as_wandb_images(make_cfg, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # A picture of the user's own in the run directory, and the training curves the run draws itself.
    run_dir = tmp_path / "run"
    (run_dir / "pictures").mkdir(parents=True)
    plt.plot([1, 2, 3])
    plt.savefig(run_dir / "pictures" / "my_plot.png")
    plt.close("all")
    train(make_cfg("logger=[wandb]", "trainer.max_epochs=1"))
    assert (run_dir / "pictures" / "curves.png").exists()
    (run,) = offline_runs(run_dir)
    media = run / "files" / "media" / "images"
    assert len(list(media.rglob("my_plot*.png"))) == 1
    assert len(list(media.rglob("curves*.png"))) == 1, "logged once, while training, not again at the end"
    summary = inspect_summary(run)["summary"]
    assert summary["pictures/my_plot"]["_type"] == "image-file"
    assert summary["pictures/curves"]["_type"].startswith("image")


def test_log_pictures_false_logs_no_pictures(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("logger=[wandb]", "logger.wandb.log_pictures=false", "trainer.max_epochs=1"))
    assert (tmp_path / "run" / "pictures" / "curves.png").exists()  # drawn, but kept out of W&B
    (run,) = offline_runs(tmp_path / "run")
    assert not list(run.rglob("media/images/*"))
    assert not any(key.startswith("pictures/") for key in inspect_summary(run)["summary"])


def test_without_credentials_auto_mode_is_offline_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE")
    mode, reason = resolve_mode("auto")
    assert mode == "offline" and "wandb login" in reason


def test_an_unreachable_server_means_offline_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    mode, reason = resolve_mode("auto")
    assert mode == "offline" and "unreachable" in reason


def test_wandb_mode_is_respected_and_disabled_writes_nothing(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == ("disabled", None)
    assert resolve_mode("offline") == ("offline", None), "the config's explicit mode wins"
    train(make_cfg("logger=[csv,wandb]", "trainer.max_epochs=1"))
    assert (tmp_path / "run" / "summary.json").exists()
    assert offline_runs(tmp_path) == []


def test_without_the_wandb_package_the_run_goes_on(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now fails as if not installed
    train(make_cfg("logger=[csv,wandb]", "trainer.max_epochs=1"))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"
    assert "wandb package is not installed" in capsys.readouterr().out
