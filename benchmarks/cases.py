"""The benchmark's cases, and the child processes that run one side of one case.

Every measurement runs in a fresh process (`python -m benchmarks.cases '<json>'`), so peak
memory (`ru_maxrss`) belongs to that one run and nothing is shared or warmed between sides.

Sides of a training case:
- `hand`: the hand-written loop of benchmarks/hand.py (imports torch only);
- `lightning`: the least a Lightning user writes (a LightningModule with `training_step` and a
  `validation_step` that computes the loss, logger, checkpointing, progress bar and model summary
  off, fed by dlbench's in-memory batches): the floor of any Lightning-based loop;
- `dlbench`: dlbench as a user runs it (`dlbench.run.builders(cfg)` from the composed Hydra config
  with the case's overrides: metrics, CSV logger, best/last checkpoints, all on).
What is timed is the training itself: all epochs of training plus validation after each epoch,
from the first step to the end of fit, with the data already in memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def training_cases(quick: bool, data_dir: str | None) -> dict[str, dict[str, Any]]:
    """Case name -> the spec both sides read: model, data, batch size, epochs, learning rate."""
    return {
        "lenet_mnist": {
            "title": f"LeNet, MNIST-shaped, batch 64, {1 if quick else 3} epochs",
            "model": "lenet",
            "outputs": 10,
            "kind": "multiclass",
            "batch_size": 64,
            "lr": 0.05,
            "epochs": 1 if quick else 3,
            "dataset": {
                "_target_": "benchmarks.data.MnistShaped",
                "root": data_dir,
                "batch_size": 64,
                "seed": 42,
                "train_size": 400 if quick else 4000,
                "test_size": 100 if quick else 1000,
            },
            "overrides": ["optimizer.lr=0.05"],
            "target": 1.10,
        },
        "iris_mlp": {
            "title": f"MLP 4-16-3, Iris, batch 16, {5 if quick else 200} epochs",
            "model": "mlp",
            "inputs": 4,
            "hidden": [16],
            "activation": "relu",
            "outputs": 3,
            "kind": "multiclass",
            "batch_size": 16,
            "lr": 0.1,
            "epochs": 5 if quick else 200,
            "dataset": None,  # the project's dataset=iris
            "overrides": [],
            "target": 2.0,
        },
        "mirror_symmetry": {
            "title": f"6-2-1 sigmoid, mirror symmetry, full batch, {20 if quick else 2000} epochs",
            "model": "mlp",
            "inputs": 6,
            "hidden": [2],
            "activation": "sigmoid",
            "outputs": 1,
            "kind": "binary",
            "batch_size": "full",
            "lr": 0.5,
            "epochs": 20 if quick else 2000,
            "dataset": {"_target_": "benchmarks.data.MirrorSymmetry", "batch_size": "full", "seed": 42},
            "overrides": ["model.hidden=[2]", "model.activation=sigmoid", "optimizer.lr=0.5"],
            "target": 2.0,
        },
    }


# -- building the dlbench config ----------------------------------------------------------------
def compose(spec: dict[str, Any], output_dir: Path) -> Any:
    """The config `python train.py <overrides>` would run for this case, as tests/conftest does."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    GlobalHydra.instance().clear()
    overrides = [
        f"trainer.max_epochs={spec['epochs']}",
        f"seed={spec['seed']}",
        *spec["overrides"],
        *device_overrides(spec),
    ]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
        if spec["dataset"] is not None:
            cfg.dataset = OmegaConf.create(spec["dataset"])
        if spec["model"] == "lenet":
            cfg.model = OmegaConf.create({"_target_": "benchmarks.models.LeNet"})
        if spec.get("device", "cpu") == "cuda":
            cfg.dataset.on_device = True  # the data on the GPU, as the hand loop has it
    HydraConfig.instance().set_config(cfg)
    output_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def device_overrides(spec: dict[str, Any]) -> list[str]:
    """What a dlbench user adds for the benchmark's --device, --precision and --compile."""
    overrides = ["trainer=gpu"] if spec.get("device", "cpu") == "cuda" else []
    if spec.get("precision", "32") != "32":
        overrides.append(f"trainer.precision={spec['precision']}")
    if spec.get("compile"):
        overrides.append("compile=true")
    return overrides


def gpu_peak(spec: dict[str, Any]) -> dict[str, float]:
    import torch

    from benchmarks.hand import gpu_peak as peak

    return peak(torch.device(spec.get("device", "cpu")))


def prepare(spec: dict[str, Any], path: Path) -> dict[str, Any]:
    """Build the case's data module once, through dlbench, and save its train and validation
    splits for the hand-written loop: both sides then see the very same tensors."""
    import torch
    from hydra.utils import instantiate

    cfg = compose(spec, path.parent / "prepare_run")
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.setup()
    (train_x, train_y), (val_x, val_y) = datamodule.splits["train"], datamodule.splits["val"]
    torch.save({"train_x": train_x, "train_y": train_y, "val_x": val_x, "val_y": val_y}, path)
    source = datamodule.source() if hasattr(datamodule, "source") else datamodule.name
    return {"train_size": len(train_x), "val_size": len(val_x), "source": source}


# -- the two Lightning-based sides ---------------------------------------------------------------
def run_dlbench(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    from dlbench.run import build

    cfg = compose(spec, Path(spec["workdir"]) / "dlbench_run")
    datamodule, task, trainer = build(cfg)
    started_cpu, started = time.process_time(), time.perf_counter()
    trainer.fit(task, datamodule=datamodule)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    return {
        "time_s": elapsed,
        "cpu_s": cpu,
        "epochs": trainer.current_epoch,
        "last": task.history[-1] if task.history else {},
        **gpu_peak(spec),
    }


def run_lightning(spec: dict[str, Any]) -> dict[str, Any]:
    import logging

    import pytorch_lightning as pl
    import torch
    from torch import nn

    from benchmarks.hand import build_model
    from dlbench.data.batches import TensorBatches

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    device = torch.device(spec.get("device", "cpu"))
    data = {key: tensor.to(device) for key, tensor in torch.load(spec["data"], weights_only=True).items()}
    binary = spec["kind"] == "binary"

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(spec)
            if spec.get("compile"):
                self.model.compile()
            self.loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            inputs, targets = batch
            return self.loss_fn(self.model(inputs), targets)

        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            inputs, targets = batch
            return self.loss_fn(self.model(inputs), targets)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=spec["lr"])

    def batches(x: Any, y: Any, shuffle: bool) -> TensorBatches:
        size = len(x) if spec["batch_size"] == "full" else spec["batch_size"]
        return TensorBatches(x, y, size, shuffle=shuffle, seed=spec["seed"])

    torch.manual_seed(spec["seed"])
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision=spec.get("precision", "32"),
        max_epochs=spec["epochs"],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    module = Bare()
    started_cpu, started = time.process_time(), time.perf_counter()
    trainer.fit(module, batches(data["train_x"], data["train_y"], True), batches(data["val_x"], data["val_y"], False))
    if device.type == "cuda":  # nothing reads the losses on the host: wait for the GPU to finish
        torch.cuda.synchronize()
    return {
        "time_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - started_cpu,
        "epochs": trainer.current_epoch,
        **gpu_peak(spec),
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    import torch

    torch.set_num_threads(spec["threads"])
    if spec["side"] == "prepare":
        result = prepare(spec, Path(spec["data"]))
    elif spec["side"] == "dlbench":
        result = run_dlbench(spec)
    else:
        result = run_lightning(spec)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
