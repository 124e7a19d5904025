"""The hand-written PyTorch loops dlbench is measured against: torch only, nothing else imported.

Each loop does the same work as a dlbench run of the case: per epoch, a shuffled pass over the
training split in mini-batches (forward, loss, backward, optimizer step), then a pass over the
validation split without gradients, and per-epoch training and validation loss and accuracy kept
as numbers (one host read per epoch). This is the fastest loop a careful user would write; it
keeps the data as tensors in memory and indexes mini-batches out of them.

Run as `python -m benchmarks.hand '<json spec>'`; prints one JSON line with the timings.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time

import torch
from torch import nn


def build_model(spec: dict) -> nn.Module:
    """The same architectures as the dlbench side (benchmarks/cases.py says which)."""
    kind = spec["model"]
    if kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = spec["inputs"]
        for hidden in spec["hidden"]:
            layers += [nn.Linear(width, hidden), nn.Sigmoid() if spec["activation"] == "sigmoid" else nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, spec["outputs"]))
        return nn.Sequential(*layers)
    if kind == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(20, 50, 5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(800, 500),
            nn.ReLU(),
            nn.Linear(500, spec["outputs"]),
        )
    raise ValueError(kind)


def precision_context(spec: dict, device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for `--precision bf16-mixed` (what Lightning's bf16-mixed does), else nothing."""
    if spec.get("precision", "32") == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(spec: dict) -> dict:
    device = torch.device(spec.get("device", "cpu"))
    data = torch.load(spec["data"], weights_only=True)
    x_train, y_train, x_val, y_val = (data[key].to(device) for key in ("train_x", "train_y", "val_x", "val_y"))
    torch.manual_seed(spec["seed"])
    model = build_model(spec).to(device)
    if spec.get("compile"):
        model.compile()
    binary = spec["kind"] == "binary"
    loss_fn = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"])
    batch = len(x_train) if spec["batch_size"] == "full" else spec["batch_size"]
    val_batch = len(x_val) if spec["batch_size"] == "full" else spec["batch_size"]
    generator = torch.Generator().manual_seed(spec["seed"])
    n = len(x_train)

    def correct(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        predicted = (outputs > 0).float() if binary else outputs.argmax(dim=1)
        return (predicted == targets).sum()

    mixed = precision_context(spec, device)  # entered around each step's forward and loss
    history = []
    started_cpu, started = time.process_time(), time.perf_counter()
    for epoch in range(spec["epochs"]):
        model.train()
        loss_sum, hits = torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device)
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n, batch):
            index = order[start : start + batch]
            inputs, targets = x_train[index], y_train[index]
            with mixed:
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(index)
            hits += correct(outputs.detach(), targets)
        model.eval()
        val_loss, val_hits = torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device)
        with torch.no_grad(), mixed:
            for start in range(0, len(x_val), val_batch):
                inputs, targets = x_val[start : start + val_batch], y_val[start : start + val_batch]
                outputs = model(inputs)
                val_loss += loss_fn(outputs, targets) * len(inputs)
                val_hits += correct(outputs, targets)
        history.append(
            {
                "epoch": epoch,
                "train/loss": float(loss_sum) / n,
                "train/acc": float(hits) / n,
                "val/loss": float(val_loss) / len(x_val),
                "val/acc": float(val_hits) / len(x_val),
            }
        )
    # each epoch's numbers were read on the host above, so the device has finished its work here
    return {
        "time_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - started_cpu,
        "epochs": len(history),
        "last": history[-1],
        **gpu_peak(device),
    }


def gpu_peak(device: torch.device) -> dict:
    """The peak of GPU memory this process allocated, on a GPU run."""
    return {"peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20} if device.type == "cuda" else {}


def first_step(spec: dict) -> dict:
    """Start-up of a plain script: import torch, load the data, take one training step."""
    data = torch.load(spec["data"], weights_only=True)
    model = build_model(spec)
    loss = nn.CrossEntropyLoss()(model(data["train_x"][:16]), data["train_y"][:16])
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    return {"first_step_at": time.time()}


def main() -> None:
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec["threads"])
    result = first_step(spec) if spec.get("mode") == "first_step" else train(spec)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
