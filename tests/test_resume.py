"""Resume is exact: stopped anywhere and resumed from last.ckpt, a run's per-epoch history is, bit
for bit on the CPU, the history of the same run never stopped. And last.ckpt is what it says."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from dlbench.config.compose import compose_config
from dlbench.run import train

EPOCHS = 4  # Iris: 96 training examples, batch 16: 6 steps per epoch
MODELS = {
    "mlp": [],
    # dropout masks and input noise come from the global random state; the plateau scheduler
    # (no improvement needed below a 50% drop) halves the rate nearly every epoch
    "dropout+plateau": [
        "regularizer=[dropout,input_noise]",
        "scheduler=plateau",
        "scheduler.patience=0",
        "scheduler.threshold=0.5",
    ],
    "augmented images": ["dataset=digits", "dataset.augment.noise_std=0.3", "dataset.augment.degrees=10"],
    "reference loader": ["regularizer=[dropout]", "dataset.in_memory=false"],
}
QUIET = ["callbacks.pictures.enabled=false", "test=false"]


def _history(run_dir: Path) -> list[dict[str, float]]:
    rows = json.loads((run_dir / "summary.json").read_text())["history"]
    return [{key: value for key, value in row.items() if not key.startswith("time/")} for row in rows]


def _run(overrides: list[str], run_dir: Path) -> int | None:
    try:
        train(compose_config([*QUIET, *overrides], run_dir))
    except SystemExit as stopped:
        return stopped.code
    finally:
        GlobalHydra.instance().clear()
    return 0


@pytest.fixture
def terminal_sigint():
    """Ctrl-C as in a terminal: a test process started in the background (as CI starts it) has
    SIGINT ignored, which a run respects (`nohup python train.py &` must not stop on a Ctrl-C
    meant for the shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, float]]]:
    histories = {}
    for name, overrides in MODELS.items():
        if name in ("mlp", "dropout+plateau"):
            run_dir = tmp_path_factory.mktemp(name.replace("+", "_")) / "run"
            _run([*overrides, f"trainer.max_epochs={EPOCHS}"], run_dir)
            histories[name] = _history(run_dir)
    return histories


def _stop_and_resume(tmp_path: Path, overrides: list[str], stop: list[str]) -> tuple[Path, Path]:
    """Train until `stop` stops it; resume from its last.ckpt to the end; return both run dirs."""
    stopped, resumed = tmp_path / "stopped", tmp_path / "resumed"
    code = _run([*overrides, f"trainer.max_epochs={EPOCHS}", *stop], stopped)
    last = json.loads((stopped / "summary.json").read_text())["last_checkpoint"]["path"]
    assert code in (0, 130)
    assert _run([*overrides, f"trainer.max_epochs={EPOCHS}", f"ckpt_path={last}"], resumed) == 0
    return stopped, resumed


@pytest.mark.parametrize("model", ["mlp", "dropout+plateau"])
@pytest.mark.parametrize(
    ("signal_name", "step", "where"),
    [
        ("SIGTERM", 8, "inside epoch 1"),
        ("SIGTERM", 12, "during the last step of epoch 1: stops after the epoch's end"),
        ("SIGINT", 9, "Ctrl-C inside epoch 1"),
    ],
)
def test_a_run_stopped_by_a_signal_resumes_exactly(
    tmp_path: Path, never_stopped, terminal_sigint, model: str, signal_name: str, step: int, where: str
) -> None:
    signal_at = ["+callbacks.stop._target_=signal_at.SignalAt", f"+callbacks.stop.step={step}"]
    stopped, resumed = _stop_and_resume(
        tmp_path, MODELS[model], [*signal_at, f"+callbacks.stop.signal_name={signal_name}"]
    )
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    how = "Ctrl-C" if signal_name == "SIGINT" else "SIGTERM"
    assert summary["stop_reason"] == f"stopped by {how} at epoch {2 if step == 12 else 1}, step {step}"
    last = summary["last_checkpoint"]
    assert last["step"] == step, "last.ckpt holds the state at the moment training stopped"
    assert last["end_of_epoch"] == (step == 12)
    assert len(summary["history"]) == (2 if step == 12 else 1)
    assert _history(resumed) == never_stopped[model], "resumed history differs from the run never stopped"


@pytest.mark.parametrize("model", ["mlp", "dropout+plateau"])
@pytest.mark.parametrize("checkpoint", ["last", "best"])
def test_a_run_extended_from_its_checkpoints_is_the_longer_run(
    tmp_path: Path, never_stopped, model: str, checkpoint: str
) -> None:
    """Stopped by max_epochs after 2 epochs: last.ckpt (the run's final state) and best.ckpt (taken in
    an epoch's end hooks, before Lightning's plateau step) each carry it on to 4 epochs exactly."""
    short, resumed = tmp_path / "short", tmp_path / "resumed"
    assert _run([*MODELS[model], "trainer.max_epochs=2"], short) == 0
    summary = json.loads((short / "summary.json").read_text())
    assert summary["last_checkpoint"]["epoch"] == 1 and summary["last_checkpoint"]["end_of_epoch"] is True
    path = summary["checkpoints"][checkpoint]
    assert _run([*MODELS[model], f"trainer.max_epochs={EPOCHS}", f"ckpt_path={path}"], resumed) == 0
    assert _history(resumed) == never_stopped[model]


@pytest.mark.parametrize("model", ["augmented images", "reference loader"])
def test_a_run_stopped_inside_an_epoch_resumes_exactly_with_other_random_draws(tmp_path: Path, model: str) -> None:
    """The augmentation's own generator (images) and the DataLoader path (`dataset.in_memory=false`)."""
    step = 50 if model == "augmented images" else 9  # digits: 40 steps per epoch
    full = tmp_path / "full"
    _run([*MODELS[model], f"trainer.max_epochs={EPOCHS}"], full)
    signal_at = ["+callbacks.stop._target_=signal_at.SignalAt", f"+callbacks.stop.step={step}"]
    _, resumed = _stop_and_resume(tmp_path, MODELS[model], signal_at)
    assert _history(resumed) == _history(full)


def test_last_checkpoint_of_an_interrupted_run_is_the_moment_it_stopped_not_an_older_best(tmp_path: Path) -> None:
    """The reported case: SIGTERM at epoch 846, last.ckpt of epoch 818 (the last best). Here the best
    stops improving early (a huge rate) while the run goes on, and checkpoints are buffered."""
    run_dir = tmp_path / "run"
    overrides = [
        "trainer.max_epochs=40",
        "optimizer.lr=3.0",
        "callbacks.model_checkpoint.flush_every_s=3600",
        "+callbacks.stop._target_=signal_at.SignalAt",
        "+callbacks.stop.step=123",  # inside epoch 20
    ]
    assert _run(overrides, run_dir) == 130
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_epoch"] < 19, "the setting must keep the best epoch well before the stop"
    assert summary["last_checkpoint"] == {
        "path": str(run_dir / "checkpoints" / "last.ckpt"),
        "epoch": 20,
        "step": 123,
        "end_of_epoch": False,
    }
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 123 and last["epoch"] == 20
    assert len(last["dlbench_task"]["history"]) == summary["epochs_run"] == 20


def test_the_last_checkpoint_of_a_run_is_its_final_state_not_its_last_best_epoch(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert _run(["trainer.max_epochs=12", "optimizer.lr=3.0"], run_dir) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_epoch"] < 11
    assert summary["last_checkpoint"]["epoch"] == 11 and summary["last_checkpoint"]["end_of_epoch"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 12 * 6


def test_a_run_resumed_into_a_new_directory_keeps_the_whole_runs_best(tmp_path: Path) -> None:
    """Lightning keeps only the other directory's best path ("The dirpath has changed"); here the
    best checkpoint comes along into the new directory, so testing 'best' tests this directory's file."""
    _run(["trainer.max_epochs=3"], tmp_path / "first")
    first = json.loads((tmp_path / "first" / "summary.json").read_text())
    code = _run(
        ["trainer.max_epochs=4", "optimizer.lr=1e-6", f"ckpt_path={tmp_path}/first/checkpoints/last.ckpt"],
        tmp_path / "second",
    )
    assert code == 0
    second = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert second["checkpoints"]["best"].startswith(str(tmp_path / "second"))
    assert Path(second["checkpoints"]["best"]).is_file()
    assert second["best"]["epoch"] in (first["best"]["epoch"], 3)
    assert [row["epoch"] for row in second["history"]] == [0, 1, 2, 3], "the whole run's rows, once each"
