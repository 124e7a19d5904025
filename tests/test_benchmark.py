"""The performance work, checked for what it must not change; timings are the benchmark's job.

No timed assertions here (shared CI machines are noisy): the benchmark is run end to end on a
tiny setting, and the speed-ups are checked to give the same results as the slower paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dlbench.config.devices import cpu_compiler
from dlbench.run import train
from helpers import ROOT


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_and_writes_its_table(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--cases",
        "iris_mlp",
        "multirun",
        "startup",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = out.read_text()
    assert table in result.stdout, "the table printed is the table written"
    for row in (
        "MLP 4-16-3, Iris",
        "multirun, 3 jobs",
        "`python train.py --help`",
        "`python train.py --cfg job`",
        "first training step",
    ):
        assert row in table, row
    raw = json.loads(out.with_suffix(".json").read_text())
    iris = raw["training"]["runs"]["iris_mlp"]
    assert set(iris) == {"hand", "lightning", "dlbench"}
    for side in iris.values():
        assert side[0]["epochs"] == 5 and side[0]["time_s"] > 0 and side[0]["peak_rss_mb"] > 0
    assert raw["multirun"]["runs"][0]["jobs"] == 3


@pytest.mark.slow
@pytest.mark.skipif(cpu_compiler() is None, reason="TorchInductor needs a C++ compiler on the CPU")
def test_the_benchmark_runs_every_side_compiled_in_bfloat16(tmp_path: Path) -> None:
    """The options the GPU rows are made with, tried where they also run, on the CPU: every side
    compiles its network and trains under bfloat16 autocast, and the table says so."""
    out = tmp_path / "mixed.md"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--quick",
        "--cases",
        "mirror_symmetry",
        "--precision",
        "bf16-mixed",
        "--compile",
        "--out",
        str(out),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = out.read_text()
    assert "6-2-1 sigmoid, mirror symmetry, full batch, 20 epochs [bf16-mixed, compiled]" in table
    assert "precision bf16-mixed, torch.compile on every side" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    sides = raw["training"]["runs"]["mirror_symmetry"]
    assert all(runs[0]["epochs"] == 20 for runs in sides.values())
    # the same training on both sides (same data, initial weights, order and precision): the same losses
    for key in ("train/loss", "val/loss", "val/acc"):
        assert sides["dlbench"][0]["last"][key] == pytest.approx(sides["hand"][0]["last"][key], rel=1e-3), key


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_the_benchmark_on_cuda_without_a_gpu_says_so_in_one_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--device", "cuda"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("--device cuda needs a CUDA GPU and torch sees none on this machine; run without --device (the CPU).")
    )


@pytest.mark.parametrize("args", [["--help"], ["--cfg", "job"]])
def test_help_and_cfg_job_answer_without_importing_torch(args: list[str]) -> None:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['train.py', *{args!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(ROOT / 'train.py')!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TORCH IMPORTED' if 'torch' in sys.modules else 'NO TORCH')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("NO TORCH")
    assert "model" in result.stdout and "optimizer" in result.stdout, "the help or config was printed"


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_buffered_checkpoints_hold_what_lightnings_model_checkpoint_writes(make_cfg, tmp_path: Path) -> None:
    """The default checkpoint callback writes to disk at most once a minute; its best.ckpt must be
    the one Lightning's ModelCheckpoint writes after every epoch, tensor for tensor. Its last.ckpt
    is the run's final state, where Lightning 2.6's is the last epoch that also took best.ckpt."""
    runs = {
        "lightning": [
            "callbacks.model_checkpoint._target_=pytorch_lightning.callbacks.ModelCheckpoint",
            "~callbacks.model_checkpoint.flush_every_s",
        ],
        "buffered": ["callbacks.model_checkpoint.flush_every_s=3600"],
    }
    checkpoints, summaries = {}, {}
    for name, overrides in runs.items():
        output = tmp_path / name
        train(make_cfg("trainer.max_epochs=5", "seed=5", "optimizer.lr=2.0", *overrides, output_dir=output))
        summary = summaries[name] = json.loads((output / "summary.json").read_text())
        assert summary["checkpoints"]["best"].endswith("best.ckpt") and summary["checkpoints"]["last"].endswith(
            "last.ckpt"
        )
        checkpoints[name] = {kind: _load(output / "checkpoints" / f"{kind}.ckpt") for kind in ("best", "last")}
        assert checkpoints[name]["best"]["epoch"] == summary["best_epoch"], "best.ckpt is the best epoch's"
        assert summary["best_epoch"] < summary["epochs_run"] - 1, (
            "training went on after the best epoch (weights changed in place)"
        )
    last, theirs_last = checkpoints["buffered"]["last"], checkpoints["lightning"]["last"]
    assert last["epoch"] == summaries["buffered"]["epochs_run"], "ours: taken at the run's end (every epoch done)"
    assert theirs_last["epoch"] == summaries["lightning"]["best_epoch"], "Lightning's: the last best epoch"
    for kind in ("best",):
        ours, theirs = checkpoints["buffered"][kind], checkpoints["lightning"][kind]
        assert (ours["epoch"], ours["global_step"]) == (theirs["epoch"], theirs["global_step"]), kind
        assert ours["state_dict"].keys() == theirs["state_dict"].keys()
        for key, value in theirs["state_dict"].items():
            assert torch.equal(ours["state_dict"][key], value), f"{kind}: {key}"
        assert ours["loops"] == theirs["loops"], f"{kind}: the loops resume at the same place"
        assert ours["optimizer_states"][0]["param_groups"] == theirs["optimizer_states"][0]["param_groups"]
        assert "dlbench_config" in ours
        # the checkpoint callback's own state (best/last paths and scores) as Lightning's, run dirs aside
        ours_state, theirs_state = (
            _checkpoint_state(c[kind], tmp_path / name)
            for c, name in ((checkpoints["buffered"], "buffered"), (checkpoints["lightning"], "lightning"))
        )
        assert ours_state == theirs_state, kind


def _checkpoint_state(checkpoint: dict, run_dir: Path) -> dict:
    [state] = [value for key, value in checkpoint["callbacks"].items() if "Checkpoint" in key]
    return {key: str(value).replace(str(run_dir), "<run>") for key, value in state.items()}


def test_buffered_last_checkpoint_of_the_first_epoch_records_its_own_path(make_cfg, tmp_path: Path) -> None:
    """In the epoch where best.ckpt and last.ckpt are first saved together, last.ckpt (made from
    best.ckpt's dump) must still record the last path as Lightning's does."""
    states = {}
    for name, overrides in (
        (
            "lightning",
            [
                "callbacks.model_checkpoint._target_=pytorch_lightning.callbacks.ModelCheckpoint",
                "~callbacks.model_checkpoint.flush_every_s",
            ],
        ),
        ("buffered", ["callbacks.model_checkpoint.flush_every_s=3600"]),
    ):
        output = tmp_path / name
        train(
            make_cfg(
                "trainer.max_epochs=1", "test=false", "callbacks.pictures.enabled=false", *overrides, output_dir=output
            )
        )
        states[name] = _checkpoint_state(_load(output / "checkpoints" / "last.ckpt"), output)
    assert states["buffered"]["last_model_path"] == "<run>/checkpoints/last.ckpt"
    assert states["buffered"] == states["lightning"]


def test_the_kept_best_score_is_not_changed_by_a_metric_updated_in_place() -> None:
    """BufferedCheckpoint copies only the monitored metric per epoch (Lightning deep-copies all of
    them); the candidates must still be Lightning's, and the monitored one a copy."""
    from types import SimpleNamespace

    from pytorch_lightning.callbacks import ModelCheckpoint

    from dlbench.callbacks.checkpoint import BufferedCheckpoint

    metrics = {"val/loss": torch.tensor(0.5), "train/loss": torch.tensor(0.7), "epoch": torch.tensor(3.0)}
    trainer = SimpleNamespace(callback_metrics=metrics, current_epoch=3, global_step=12)
    ours = BufferedCheckpoint(monitor="val/loss")._monitor_candidates(trainer)
    theirs = ModelCheckpoint(monitor="val/loss")._monitor_candidates(trainer)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert torch.equal(ours[key], value) and ours[key].dtype == value.dtype, key
    metrics["val/loss"].add_(1.0)
    assert float(ours["val/loss"]) == 0.5
