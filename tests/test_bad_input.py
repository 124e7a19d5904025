"""Bad input gets one sentence naming the value and a fix, before training, and a non-zero exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from dlbench.cli import run_job
from dlbench.errors import ConfigError
from dlbench.records.summary import load_summary
from dlbench.run import train
from helpers import run_cli, start_cli


def test_unknown_group_option_gets_hydras_list_of_choices(tmp_path: Path) -> None:
    result = run_cli("model=no_such_model", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "Could not find 'model/no_such_model'" in result.stderr
    assert "mlp" in result.stderr  # Hydra lists the available options


CALLBACK_FIX = "give a class that subclasses pytorch_lightning.Callback, as module.Class (e.g. "


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["+callbacks.x._target_=dlbench.errors.require"], "callbacks.x._target_=dlbench.errors.require is a function"),
        (["+callbacks.x._target_=collections.abc.Mapping"], "names part of Python's standard library (collections)"),
        (["+callbacks.x._target_=dlbench.errors.ConfigError"], "is the class ConfigError, not a Lightning callback"),
        (["+callbacks.x._target_=pytorch_lightning.callbacks.NoSuch"], "(pytorch_lightning.callbacks has no NoSuch)"),
        (["+callbacks.x.patience=3"], "callbacks.x has no _target_"),
        (
            ["+callbacks.x._target_=pytorch_lightning.callbacks.EarlyStopping", "+callbacks.x.nonsense=3"],
            "callbacks.x (pytorch_lightning.callbacks.EarlyStopping) could not be made: EarlyStopping.__init__() got",
        ),
    ],
    ids=["a function", "the standard library", "a class, not a callback", "no such class", "no target", "arguments"],
)
def test_a_callback_target_that_is_not_a_callback_is_one_sentence_before_training(
    make_cfg, capsys, tmp_path: Path, overrides: list[str], words: str
) -> None:
    """Once Hydra's traceback (`+callbacks.x._target_=os.system`: "blocklisted", a class: "Missing key
    on_exception"). A `_target_` is code, as a script is; the sentence names it and what it must be."""
    with pytest.raises(SystemExit) as exit_info:
        run_job(make_cfg(*overrides))
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines
    assert lines[0].startswith("error: callbacks.x") and "Traceback" not in lines[0]
    if "could not be made" not in words:
        assert CALLBACK_FIX in lines[0] and lines[0].endswith("or drop the entry with ~callbacks.x.")
    assert not (tmp_path / "run" / "summary.json").exists() and not (tmp_path / "run" / "checkpoints").exists()


def test_a_function_that_returns_a_callback_is_a_callback_target() -> None:
    """A factory (`-> pl.Callback`), as the shipped progress bar is, is made as a class is: not refused,
    whether its bar is on (a terminal, `trainer.enable_progress_bar=true`) or not."""
    from dlbench.config.early import check_callback_classes

    check_callback_classes({"progress_bar": {"_target_": "dlbench.callbacks.progress.progress_bar", "enabled": True}})
    with pytest.raises(ConfigError, match="is a function, not a Lightning callback class"):
        check_callback_classes({"x": {"_target_": "dlbench.errors.require"}})  # returns None: no factory


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["monitor=val/foo"], "monitor=val/foo is not a metric this run logs; choose one of val/loss, val/acc, "),
        (
            ["dataset=heteroscedastic", "monitor=val/acc"],
            "monitor=val/acc is not a metric this run logs; choose one of val/loss, train/loss.",
        ),
        (["callbacks.model_checkpoint.monitor=val/x"], "callbacks.model_checkpoint.monitor=val/x is not a metric"),
    ],
    ids=["unknown", "no accuracy in a regression", "a callback's own"],
)
def test_a_metric_the_run_never_logs_is_refused_before_the_first_epoch(
    make_cfg, capsys, tmp_path: Path, overrides: list[str], words: str
) -> None:
    """Once found by Lightning's checkpoint after the first epoch had trained, with a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        run_job(make_cfg(*overrides, "trainer.max_epochs=2"))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "run" / "summary.json").exists() and not (tmp_path / "run" / "checkpoints").exists()
    assert "epoch" not in captured.out.lower(), "nothing trained"


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["regularizer=[l2]", "dataset=heteroscedastic"],
        ["dataset=shapes", "dataset.size=16", "dataset.num_samples=60", "model=encoder_decoder"],
    ],
    ids=["classification", "regression with a penalty", "segmentation"],
)
def test_the_metrics_monitor_may_name_are_those_a_fit_publishes(make_cfg, overrides: list[str]) -> None:
    """`Task.monitorable` (what a refused monitor= lists) against what one epoch puts into callback_metrics."""
    from dlbench.run import build

    quick = ["trainer.max_epochs=1", "callbacks.pictures.enabled=false", "+trainer.limit_train_batches=2"]
    datamodule, task, trainer = build(make_cfg(*overrides, *quick))
    trainer.fit(task, datamodule=datamodule)
    published = {key for key in trainer.callback_metrics if key.startswith(("train/", "val/"))}
    assert published == set(task.monitorable()), (published, task.monitorable())


def test_compiling_on_a_cpu_without_a_cpp_compiler_is_refused_before_training(
    make_cfg, capsys, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("shutil.which", lambda name, *args, **kwargs: None)
    with pytest.raises(SystemExit) as exit_info:
        run_job(make_cfg("compile=true"))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: compile=true on the CPU needs a C++ compiler") and "compile=false" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_diverging_loss_stops_at_once_and_is_reported(make_cfg, capsys, tmp_path: Path) -> None:
    cfg = make_cfg("optimizer.lr=1e25", "trainer.max_epochs=50")
    assert train(cfg) is None, "no best value: validation never ran"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged"
    assert summary["diverged"]["epoch"] == 0 and summary["diverged"]["step"] >= 1
    assert summary["epochs_run"] < 50
    out = capsys.readouterr().out
    assert "Training diverged:" in out and "summary.json" in out
    said = next(line for line in out.splitlines() if line.startswith("Training diverged:"))
    assert said.lower().count("diverged") == 1, f"said once: {said}"
    loss = float(summary["diverged"]["loss"])  # JSON has no NaN: summary.json says "NaN"
    assert said.startswith(f"Training diverged: the loss became {loss} at epoch 0, step ")


@pytest.mark.parametrize("each_step", [True, False], ids=["each step (CPU)", "once an epoch (GPU)"])
def test_divergence_checked_once_an_epoch_names_the_same_step_and_saves_no_nan_weights(
    make_cfg, tmp_path: Path, each_step: bool
) -> None:
    """On a GPU the loss is checked for NaN once an epoch, since a per-step check makes the host
    wait for the device every step; here that mode is forced on the CPU. The run must stop in the
    epoch the loss went bad, name the same step as the per-step check, and leave only checkpoints
    of finite weights."""
    from dlbench.run import build
    from dlbench.tasks import TrainingDiverged

    datamodule, task, trainer = build(
        make_cfg(
            "trainer.max_epochs=6", "callbacks.pictures.enabled=false", "callbacks.model_checkpoint.flush_every_s=3600"
        )
    )
    task.check_divergence_each_step = each_step
    steps_per_epoch = len(datamodule.train_dataloader())
    bad_from = 2 * steps_per_epoch + 2  # the 3rd training step of epoch 2
    network, forward, calls = task.model, task.model.forward, [0]

    def nan_from_step(x: torch.Tensor) -> torch.Tensor:
        out = forward(x)
        if network.training:
            calls[0] += 1
            if calls[0] >= bad_from:
                out = out * float("nan")
        return out

    network.forward = nan_from_step
    with pytest.raises(TrainingDiverged) as diverged:
        trainer.fit(task, datamodule=datamodule)
    assert (diverged.value.epoch, diverged.value.step) == (2, bad_from - 1)
    assert diverged.value.loss != diverged.value.loss, "the loss reported is the NaN it became"
    assert trainer.current_epoch == 2, "stopped in the epoch the loss went bad"
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1
    assert all(torch.isfinite(value).all() for value in last["state_dict"].values())


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_run_keeps_its_last_checkpoint_and_resumes(tmp_path: Path, signal_number: int) -> None:
    run_dir = tmp_path / "interrupted"
    process = start_cli(f"hydra.run.dir={run_dir}", "trainer.max_epochs=100000")
    _wait_for(run_dir / "checkpoints" / "best.ckpt", process)
    time.sleep(1.0)
    process.send_signal(signal_number)
    process.communicate(timeout=120)
    assert process.returncode != 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    last = run_dir / "checkpoints" / "last.ckpt"
    assert last.exists()
    done = summary["epochs_run"]
    # last.ckpt holds the moment it stopped: after the last step, or after the end of the epoch
    position = summary["last_checkpoint"]
    assert done == position["epoch"] + (1 if position["end_of_epoch"] else 0)
    assert torch.load(last, weights_only=True)["global_step"] == position["step"]
    resumed_dir = tmp_path / "resumed"
    result = run_cli(f"hydra.run.dir={resumed_dir}", f"ckpt_path={last}", f"trainer.max_epochs={done + 3}")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads((resumed_dir / "summary.json").read_text())
    assert resumed["status"] == "completed"
    epochs = [row["epoch"] for row in resumed["history"]]
    assert epochs == list(range(done + 3)), "the whole run's rows, each epoch once, none lost or run twice"
    assert resumed["history"][: done - 1] == summary["history"][: done - 1]


def test_sigterm_while_the_run_starts_leaves_an_interrupted_record(tmp_path: Path) -> None:
    """SIGTERM before the first epoch once ended the process with exit 143 and no summary.json. The
    signal comes deterministically: a callback sends it as it is made, while the run builds its network."""
    run_dir = tmp_path / "run"
    result = run_cli(
        "+callbacks.stop._target_=signal_at.SignalWhenMade",
        f"hydra.run.dir={run_dir}",
        env={"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 143, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    said = "stopped by SIGTERM while starting (building the network), before the first epoch: nothing was trained"
    assert lines == [f"{said}; summary.json says interrupted."], result.stderr[-3000:]
    summary = load_summary(run_dir)
    assert (summary.status, summary.stop_reason, summary.epochs_run) == ("interrupted", said, 0)
    assert summary.overrides[0] == "+callbacks.stop._target_=signal_at.SignalWhenMade"
    assert not (run_dir / "checkpoints").exists()
