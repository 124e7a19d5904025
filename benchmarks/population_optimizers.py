"""One optimizer step of M population members: the stacked update against each member's own torch optimizer.

`python benchmarks/population_optimizers.py` prints, per case, the milliseconds of one step of
`StackedOptimizer` over the stacked parameters and of each member's own torch optimizer over its
leaf views of them (`MemberOptimizers`' way), for-loop and foreach. One thread; ratios only on a
shared machine. docs/dev/decisions.md records what it measured and what was chosen.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from dlbench.population.optimizers import StackedOptimizer

OPTIMIZERS = {
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
}


def networks(members: int, kind: str) -> list[nn.Module]:
    torch.manual_seed(0)
    if kind == "iris":
        return [nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)) for _ in range(members)]
    return [
        nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.ReLU(),
            nn.Conv2d(6, 16, 5),
            nn.Flatten(),
            nn.Linear(16 * 20 * 20, 120),
            nn.Linear(120, 84),
            nn.Linear(84, 10),
        )
        for _ in range(members)
    ]


def per_step(step, steps: int) -> float:
    for _ in range(5):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1e3


def measure(members: int, kind: str, name: str, steps: int) -> dict[str, float]:
    models = networks(members, kind)
    params, _ = torch.func.stack_module_state(models)
    stacked = [nn.Parameter(p.detach().clone()) for p in params.values()]
    make = OPTIMIZERS[name]
    for p in stacked:
        p.grad = torch.randn_like(p)
    own = [make(model.parameters(), 0.01 * (i + 1)) for i, model in enumerate(models)]
    result = {"stacked_ms": per_step(StackedOptimizer(stacked, own).step, steps)}
    for foreach in (False, True):
        leaves = [[p.detach()[m] for p in stacked] for m in range(members)]
        optimizers = [make(leaf, 0.01 * (i + 1)) for i, leaf in enumerate(leaves)]
        for optimizer in optimizers:
            optimizer.param_groups[0]["foreach"] = foreach

        def step(optimizers=optimizers, leaves=leaves) -> None:
            for m, optimizer in enumerate(optimizers):
                for p, leaf in zip(stacked, leaves[m], strict=True):
                    leaf.grad = p.grad[m]
                optimizer.step()

        result[f"own_foreach={foreach}_ms"] = per_step(step, steps)
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)
    for members, kind, steps in ((16, "iris", 300), (64, "iris", 100), (8, "lenet", 20)):
        for name in OPTIMIZERS:
            numbers = {key: round(value, 3) for key, value in measure(members, kind, name, steps).items()}
            print(members, kind, name, numbers, flush=True)
