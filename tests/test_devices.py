"""trainer= presets compose as documented, and hardware that is not there gets one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dlbench.config.devices import cpu_compiler
from dlbench.errors import ConfigError
from dlbench.run import build, train
from helpers import run_cli

NO_GPU = not torch.cuda.is_available()


@pytest.mark.parametrize(
    ("preset", "accelerator", "devices", "strategy", "nodes"),
    [
        ("default", "auto", 1, "auto", 1),
        ("cpu", "cpu", 1, "auto", 1),
        ("gpu", "gpu", 1, "auto", 1),
        ("ddp", "gpu", -1, "ddp", 1),
        ("ddp_cpu", "cpu", 2, "ddp", 1),
        ("multinode", "gpu", -1, "ddp", 2),
        ("mps", "mps", 1, "auto", 1),
    ],
)
def test_each_preset_changes_only_its_own_idea(make_cfg, preset, accelerator, devices, strategy, nodes) -> None:
    trainer = make_cfg(f"trainer={preset}").trainer
    assert (trainer.accelerator, trainer.devices, trainer.strategy, trainer.num_nodes) == (
        accelerator,
        devices,
        strategy,
        nodes,
    )
    assert trainer.max_epochs == 100 and trainer.precision == 32  # the shared settings of trainer/default.yaml


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("preset", ["gpu", "ddp"])
def test_gpu_preset_without_gpu_says_what_runs_here(make_cfg, preset: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(make_cfg(f"trainer={preset}"))
    # said before torch is imported where the machine shows no GPU driver (config/early.py), else by torch
    assert str(error.value).startswith(f"trainer={preset} needs a GPU but none was found (")
    assert str(error.value).endswith("; use trainer=cpu or trainer=ddp_cpu to run here.")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_gpu_on_cli_without_gpu_exits_2_before_training(refuse, tmp_path: Path) -> None:
    status, lines = refuse("trainer=gpu")
    assert status == 2
    assert lines[-1].startswith("error: trainer=gpu needs a GPU but none was found")
    assert not (tmp_path / "run" / "summary.json").exists()


def test_more_gpus_than_exist_names_both_numbers(make_cfg, monkeypatch) -> None:
    found = torch.cuda.device_count()
    if NO_GPU:  # no GPU lent here: stand in a one-GPU machine so the message is still checked
        found = 1
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        monkeypatch.setattr("dlbench.config.early.has_no_gpu", lambda: False)  # the driver's files too
    with pytest.raises(ConfigError) as error:
        build(make_cfg("trainer=ddp", f"trainer.devices={found + 1}"))
    assert f"trainer.devices={found + 1} asks for {found + 1} GPUs but {found} " in str(error.value)
    assert f"use trainer.devices={found} or fewer" in str(error.value)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an Apple GPU")
def test_mps_preset_without_an_apple_gpu_exits_2_with_one_sentence(refuse, tmp_path: Path) -> None:
    status, lines = refuse("trainer=mps")
    assert status == 2
    (line,) = [line for line in lines if line.startswith("error:")]
    assert line.startswith("error: trainer=mps needs an Apple GPU (MPS) but ")
    assert line.endswith("to run here.") and "trainer=cpu" in line
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["trainer.devices=2"], "trainer.devices=2 asks for several Apple GPUs, but MPS is one device (no DDP)"),
        (["trainer.precision=64"], "trainer.precision=64 does not run on an Apple GPU (MPS has no float64)"),
    ],
)
def test_mps_settings_an_apple_gpu_cannot_run_get_one_sentence(
    make_cfg, monkeypatch, overrides: list[str], expected: str
) -> None:
    from dlbench.config.devices import check_devices

    if not torch.backends.mps.is_available():  # no Mac here: stand in one so these messages are still checked
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    check_devices(make_cfg("trainer=mps").trainer, "mps")  # the preset itself passes on an Apple GPU
    with pytest.raises(ConfigError) as error:
        check_devices(make_cfg("trainer=mps", *overrides).trainer, "mps")
    assert str(error.value).startswith(expected)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["trainer.precision=16-mixed"],
            "trainer.precision=16-mixed needs a GPU (float16 autocast does not run on the CPU); use "
            "trainer.precision=bf16-mixed or 32 on the CPU.",
        ),
        pytest.param(
            ["trainer=default", "trainer.precision=16-mixed"],
            "trainer.precision=16-mixed needs a GPU (float16 autocast does not run on the CPU)",
            marks=pytest.mark.skipif(not NO_GPU, reason="accelerator=auto picks the GPU here"),
            id="auto-on-cpu-16-mixed",
        ),
        (
            ["trainer.precision=8"],
            "trainer.precision=8 must be a precision Lightning knows; use 32, 16-mixed (GPU) or bf16-mixed.",
        ),
        (
            ["trainer=ddp_cpu", "trainer.num_nodes=2"],
            "trainer.num_nodes=2 needs one process per device on 2 machines, started by SLURM",
        ),
    ],
)
def test_impossible_settings_get_one_sentence(make_cfg, overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(make_cfg(*overrides))
    assert str(error.value).startswith(expected)


def test_bf16_mixed_trains_on_the_cpu(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("trainer.precision=bf16-mixed", "trainer.max_epochs=1", "test=false")
    train(cfg)
    import json

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["devices"]["precision"] == "bf16-mixed"


def test_deterministic_true_turns_on_deterministic_algorithms(make_cfg) -> None:
    try:
        build(make_cfg("trainer.deterministic=true"))
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_torchrun_ranks_must_share_a_run_dir(tmp_path: Path) -> None:
    result = run_cli("trainer.max_epochs=1", cwd=tmp_path, env={"TORCHELASTIC_RUN_ID": "test", "RANK": "1"})
    assert result.returncode == 2
    assert "add hydra.run.dir=<one path all machines see> to the command" in result.stderr
    assert not list(tmp_path.glob("outputs/*/*/summary.json"))


def test_ddp_children_under_a_parallel_launcher_are_refused(make_cfg) -> None:
    # Lightning would start rank 1 by re-running the joblib worker's own program (seen: the sweep died with SIGKILL).
    with pytest.raises(ConfigError) as error:
        build(make_cfg("hydra/launcher=joblib", "trainer=ddp_cpu"))
    assert str(error.value).startswith(
        "trainer.strategy=ddp with trainer.devices=2 starts its other processes by running train.py again"
    )
    assert "hydra/launcher=joblib" in str(error.value)
    build(
        make_cfg("hydra/launcher=joblib", "trainer=ddp_cpu", "trainer.strategy=ddp_spawn")
    )  # spawn starts its own processes


@pytest.mark.slow
@pytest.mark.skipif(cpu_compiler() is None, reason="TorchInductor needs a C++ compiler on the CPU")
def test_a_compiled_network_trains_like_the_plain_one_and_keeps_plain_checkpoints(make_cfg, tmp_path: Path) -> None:
    """compile=true: the network runs through torch.compile (C++ kernels on the CPU), the losses
    are the eager ones up to float rounding, and the checkpoints hold the plain network's names,
    so a compiled run's checkpoint loads into an uncompiled model."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    runs, graphs = {}, {}
    for name, extra in (("eager", []), ("compiled", ["compile=true"])):
        output = tmp_path / name
        before = counters["stats"]["unique_graphs"]  # a process-wide count: other tests may have compiled
        train(make_cfg("trainer.max_epochs=3", "callbacks.pictures.enabled=false", *extra, output_dir=output))
        runs[name] = (
            json.loads((output / "summary.json").read_text()),
            torch.load(output / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"],
        )
        graphs[name] = counters["stats"]["unique_graphs"] - before
    assert graphs["eager"] == 0 and graphs["compiled"] >= 1, (
        f"dynamo compiled only the compiled run's network: {graphs}"
    )
    (eager, eager_weights), (compiled, compiled_weights) = runs["eager"], runs["compiled"]
    assert compiled["status"] == "completed"
    for eager_row, compiled_row in zip(eager["history"], compiled["history"], strict=True):
        assert compiled_row["val/loss"] == pytest.approx(eager_row["val/loss"], rel=1e-4)
    assert compiled_weights.keys() == eager_weights.keys()
    for key, value in eager_weights.items():
        torch.testing.assert_close(compiled_weights[key], value, atol=1e-5, rtol=1e-4)
    assert compiled["metrics"]["test"]["acc"] == pytest.approx(eager["metrics"]["test"]["acc"])
