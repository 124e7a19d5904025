"""One torch thread or torch's default, per training step, for the networks the experiments train.

For each network (built by dlbench itself, at the batch size its experiment uses) a hand-written
step (forward, loss, backward, SGD update) is timed with 1 intra-op thread and with torch's default
(one per core), one setting after the other in this one process, and the FLOPs of the step
(PyTorch's FlopCounterMode, forward x 3) printed beside them. It is what `threads=auto` decides on
(`dlbench.training.threads`): below `SMALL_STEP_FLOPS` a step is too small to share between
threads, which then mostly wait for each other (and, on a busy machine, for a core).

    python benchmarks/threads.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dlbench.models.measure import forward_flops  # noqa: E402
from dlbench.training.threads import SMALL_STEP_FLOPS  # noqa: E402


def mlp(*widths: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for index, (width, following) in enumerate(zip(widths, widths[1:], strict=False)):
        layers += [nn.Linear(width, following)] + ([activation()] if index < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def lenet() -> nn.Sequential:
    convolutions = [nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*convolutions, nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


# name -> (network, input shape of one example, classes, batch size): the experiments' networks
CASES = {
    "mirror 6-2-1 (mirror_1986)": (lambda: mlp(6, 2, 1, activation=nn.Sigmoid), (6,), 1, 64),
    "iris MLP 4-16-3 (default run)": (lambda: mlp(4, 16, 3), (4,), 3, 16),
    "digits MLP 5x64 (activations)": (lambda: mlp(64, 64, 64, 64, 64, 64, 10), (1, 8, 8), 10, 64),
    "digits MLP 512-512 (early_stopping_small)": (lambda: mlp(64, 512, 512, 10), (1, 8, 8), 10, 16),
    "LeNet 28x28 (lenet_digits)": (lenet, (1, 28, 28), 10, 64),
}


def step_time(make, shape: tuple[int, ...], classes: int, batch: int, threads: int, steps: int) -> float:
    """Seconds per training step with `threads` intra-op threads (median of 5 blocks)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = torch.randn(batch, *shape)
    targets = torch.rand(batch, 1) if classes == 1 else torch.randint(0, classes, (batch,))
    loss_fn = nn.MSELoss() if classes == 1 else nn.CrossEntropyLoss()
    blocks = []
    for block in range(6):
        start = time.perf_counter()
        for _ in range(steps // 5):
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
        if block:  # the first block warms up
            blocks.append((time.perf_counter() - start) / (steps // 5))
    return sorted(blocks)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    default = torch.get_num_threads()
    print(f"load average {os.getloadavg()}, torch's default threads {default}, SMALL_STEP_FLOPS {SMALL_STEP_FLOPS:.0e}")
    print("| network | FLOPs per step | 1 thread, ms | default threads, ms | default / 1 |")
    print("|---|---|---|---|---|")
    rows = []
    for name, (make, shape, classes, batch) in CASES.items():
        flops = 3 * forward_flops(make(), shape) * batch
        one = step_time(make, shape, classes, batch, 1, args.steps)
        many = step_time(make, shape, classes, batch, default, args.steps)
        rows.append({"network": name, "flops": flops, "one_ms": one * 1e3, "default_ms": many * 1e3})
        print(f"| {name} | {flops:.2e} | {one * 1e3:.3f} | {many * 1e3:.3f} | {many / one:.2f} |", flush=True)
    print(json.dumps({"load": os.getloadavg(), "default_threads": default, "rows": rows}))


if __name__ == "__main__":
    main()
