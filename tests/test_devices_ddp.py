"""DDP with real gloo processes (`trainer=ddp_cpu`), as `python train.py` starts them.

Two processes with batch 16 each must train like one process with batch 32: the ranks' shards
of an epoch's permutation together are exactly the single process's batches, and DDP averages
equal-sized gradients. Each run must leave one run directory, one summary, and every rank must
have resolved the job's config (inside a multirun too).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import run_cli

pytestmark = pytest.mark.slow
EPOCHS = "trainer.max_epochs=3"


def _summaries(root: Path) -> list[Path]:
    return sorted(root.rglob("summary.json"))


def _offline_wandb(tmp_path: Path) -> dict[str, str]:
    """W&B offline with no account, its own files under tmp_path."""
    (tmp_path / "netrc").write_text("")
    home = str(tmp_path / "wandb-home")
    return {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "NETRC": str(tmp_path / "netrc"),
        "WANDB_CONFIG_DIR": home,
        "WANDB_CACHE_DIR": home,
        "WANDB_DATA_DIR": home,
    }


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]


def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path: Path) -> None:
    (tmp_path / "ddp").mkdir()
    (tmp_path / "single").mkdir()
    both = ("logger=[csv,wandb]", EPOCHS)
    ddp = run_cli("trainer=ddp_cpu", *both, cwd=tmp_path / "ddp", env=_offline_wandb(tmp_path))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_cli(
        "trainer=cpu", "dataset.batch_size=32", *both, cwd=tmp_path / "single", env=_offline_wandb(tmp_path)
    )
    assert single.returncode == 0, single.stderr[-3000:]

    run_dirs = [path for path in (tmp_path / "ddp").glob("outputs/*/*") if path.is_dir()]
    assert len(run_dirs) == 1, f"rank 1 made its own run directory: {run_dirs}"
    assert _summaries(tmp_path / "ddp") == [run_dirs[0] / "summary.json"]
    distributed = json.loads((run_dirs[0] / "summary.json").read_text())
    reference = json.loads(_summaries(tmp_path / "single")[0].read_text())

    assert distributed["devices"]["world_size"] == 2
    assert distributed["effective_batch_size"] == reference["effective_batch_size"] == 32
    hashes = distributed["devices"]["config_hash_per_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert len(distributed["history"]) == 3
    for split in ("train", "val", "test"):
        for name, value in reference["metrics"][split].items():
            assert distributed["metrics"][split][name] == pytest.approx(value, abs=1e-4), f"{split}/{name}"
    assert distributed["samples_per_s"] > 0 and distributed["time_per_epoch_s"] > 0
    rows = (run_dirs[0] / "metrics.csv").read_text().strip().splitlines()
    assert sum(1 for row in rows[1:] if row.split(",")[0] != "") >= 3  # one row per epoch, from rank 0 only

    # Checkpoints (BufferedCheckpoint) and W&B: written once, by rank 0, and the same as one process's.
    assert sorted(path.name for path in (run_dirs[0] / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    single_dir = _summaries(tmp_path / "single")[0].parent
    for name in ("best.ckpt", "last.ckpt"):
        distributed_weights, reference_weights = (
            _weights(run_dirs[0] / "checkpoints" / name),
            _weights(single_dir / "checkpoints" / name),
        )
        assert distributed_weights.keys() == reference_weights.keys()
        for key, value in reference_weights.items():
            assert torch.allclose(distributed_weights[key], value, atol=1e-5), f"{name}: {key}"
    assert distributed["best"]["epoch"] == reference["best"]["epoch"]
    assert len(list((run_dirs[0] / "wandb").glob("offline-run-*"))) == 1
    assert ddp.stdout.count("wandb sync") == 1, "only rank 0 opens a W&B run"


def test_multirun_of_ddp_jobs_each_job_in_its_own_directory(tmp_path: Path) -> None:
    result = run_cli("-m", "trainer=ddp_cpu", "trainer.max_epochs=2", "optimizer.lr=0.1,0.05", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "outputs").exists(), "a DDP child ran as a single run of its own"
    sweeps = list(tmp_path.glob("multirun/*/*"))
    assert len(sweeps) == 1, f"a DDP child replayed the sweep: {sweeps}"
    summaries = _summaries(tmp_path)
    assert [path.parent.name for path in summaries] == ["0", "1"]
    seen = []
    for path, lr in zip(summaries, (0.1, 0.05), strict=False):
        summary = json.loads(path.read_text())
        assert summary["status"] == "completed"
        assert summary["config"]["optimizer"]["lr"] == lr
        assert summary["run_dir"] == str(path.parent.resolve())
        hashes = summary["devices"]["config_hash_per_rank"]
        assert len(hashes) == 2 and hashes[0] == hashes[1], "the ranks of one job resolved different configs"
        seen.append(hashes[0])
    assert seen[0] != seen[1]


def test_ranks_with_different_configs_are_refused(tmp_path: Path) -> None:
    # A value that resolves per process (the rank's own LOCAL_RANK) makes the ranks disagree.
    result = run_cli("trainer=ddp_cpu", "trainer.max_epochs=1", "+probe=${oc.env:LOCAL_RANK,0}", cwd=tmp_path)
    assert result.returncode == 2
    assert "DDP processes of this run resolved different configs" in result.stderr


def test_two_nodes_started_by_torchrun_write_one_run(tmp_path: Path) -> None:
    """`trainer.num_nodes=2` with processes started by torchrun, two "machines" on localhost."""
    import os
    import socket
    import subprocess
    import sys

    from helpers import ROOT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_dir = tmp_path / "run"
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes=2",
                "--nproc-per-node=1",
                f"--node-rank={rank}",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                str(ROOT / "train.py"),
                "trainer=ddp_cpu",
                "trainer.devices=1",
                "trainer.num_nodes=2",
                "trainer.max_epochs=2",
                f"hydra.run.dir={run_dir}",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert _summaries(tmp_path) == [run_dir / "summary.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["devices"]["world_size"] == 2 and summary["effective_batch_size"] == 32
    hashes = summary["devices"]["config_hash_per_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]


def test_a_loss_that_diverges_on_one_process_stops_every_process(tmp_path: Path) -> None:
    """Rank 1's loss becomes NaN, rank 0's stays finite: both must stop at that step (a rank that
    stopped alone would leave the other waiting in the gradient all-reduce), one summary says so."""
    import os

    from helpers import ROOT

    env = {"PYTHONPATH": os.pathsep.join(path for path in (str(ROOT / "tests"), os.environ.get("PYTHONPATH")) if path)}
    result = run_cli(
        "trainer=ddp_cpu",
        "trainer.max_epochs=3",
        "model._target_=one_rank_diverges.NanOnRankOne",
        cwd=tmp_path,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [summary_path] = _summaries(tmp_path)
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "diverged"
    assert summary["diverged"]["epoch"] == 0 and summary["diverged"]["step"] == 1
    assert "Training diverged" in result.stdout
