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

from conftest import ROOT, run_cli
from dlbench.run import train
from dlbench.run.compiling import cpu_compiler


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


def test_multirun_jobs_get_the_config_that_cfg_job_composes(tmp_path: Path) -> None:
    """A multirun composes each job's config once (the sweeper's check hands it to the launcher):
    each job must still run exactly the config `--cfg job` composes for its overrides."""
    rates = ["0.03", "0.07"]
    result = run_cli(
        "-m",
        f"optimizer.lr={','.join(rates)}",
        "trainer.max_epochs=1",
        "test=false",
        "callbacks.pictures.enabled=false",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job, rate in enumerate(rates):
        alone = run_cli(
            "--cfg",
            "job",
            f"optimizer.lr={rate}",
            "trainer.max_epochs=1",
            "test=false",
            "callbacks.pictures.enabled=false",
        )
        assert alone.returncode == 0, alone.stderr[-3000:]
        ran = (tmp_path / str(job) / ".hydra" / "config.yaml").read_text()
        assert f"lr: {rate}" in ran
        assert ran.strip() == alone.stdout.strip(), f"job {job}"


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_buffered_checkpoints_hold_what_lightnings_model_checkpoint_writes(make_cfg, tmp_path: Path) -> None:
    """The default checkpoint callback writes to disk at most once a minute; the files it leaves
    must be the ones Lightning's ModelCheckpoint writes after every epoch, tensor for tensor."""
    runs = {
        "lightning": [
            "callbacks.model_checkpoint._target_=pytorch_lightning.callbacks.ModelCheckpoint",
            "~callbacks.model_checkpoint.flush_every_s",
        ],
        "buffered": ["callbacks.model_checkpoint.flush_every_s=3600"],
    }
    checkpoints = {}
    for name, overrides in runs.items():
        output = tmp_path / name
        train(make_cfg("trainer.max_epochs=5", "seed=5", "optimizer.lr=2.0", *overrides, output_dir=output))
        summary = json.loads((output / "summary.json").read_text())
        assert summary["checkpoints"]["best"].endswith("best.ckpt") and summary["checkpoints"]["last"].endswith(
            "last.ckpt"
        )
        checkpoints[name] = {kind: _load(output / "checkpoints" / f"{kind}.ckpt") for kind in ("best", "last")}
        assert checkpoints[name]["best"]["epoch"] == summary["best_epoch"], "best.ckpt is the best epoch's"
        assert summary["best_epoch"] < summary["epochs_run"] - 1, (
            "training went on after the best epoch (weights changed in place)"
        )
    for kind in ("best", "last"):
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


def test_the_task_still_registers_what_is_assigned_to_it_and_keeps_the_hook_name_plain() -> None:
    """`Task.__setattr__` skips nn.Module's bookkeeping for the one name Lightning sets around
    every hook; parameters and submodules assigned later must still be registered."""
    from functools import partial

    from torch import nn

    from dlbench.data.spec import DataSpec
    from dlbench.tasks import Task

    task = Task(nn.Linear(4, 3), DataSpec("table", (4,), 3, "multiclass"), optimizer=partial(torch.optim.SGD, lr=0.1))
    task.probe = nn.Linear(3, 2)
    task.scale = nn.Parameter(torch.ones(1))
    task._current_fx_name = "training_step"
    assert "probe.weight" in task.state_dict() and "scale" in dict(task.named_parameters())
    assert task._current_fx_name == "training_step" and "_current_fx_name" not in task._modules


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
