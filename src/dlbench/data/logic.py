"""Truth tables of AND and OR: the four points a perceptron can separate (XOR is in data/toy.py).

Every split is the whole table: the question is whether the function is learned, not whether it
generalises. Inputs stay 0/1 (no standardisation) so the learned line can be read off the weights.
"""

from __future__ import annotations

import torch

from dlbench.data.module import InMemoryDataModule, Pair
from dlbench.data.spec import DataSpec

GATES = {"and": (0.0, 0.0, 0.0, 1.0), "or": (0.0, 1.0, 1.0, 1.0)}


class LogicGate(InMemoryDataModule):
    """Inputs (0,0), (0,1), (1,0), (1,1); one binary target, the gate's output."""

    kind = "binary"

    def __init__(self, gate: str = "and", batch_size: int | str = 1, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, seed=seed, standardize=False, stratify=False)
        self.gate = gate
        self.name = f"logic_{gate}"

    def load(self) -> dict[str, Pair]:
        inputs = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        return {"train": (inputs, torch.tensor(GATES[self.gate]).unsqueeze(1))}

    def setup(self, stage: str | None = None) -> None:
        if self.spec is not None:
            return
        table = self.load()["train"]
        self.splits = {"train": table, "val": table, "test": table}
        self.spec = DataSpec(self.name, (2,), 1, "binary")
