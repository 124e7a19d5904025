"""`compile=true`: the network's forward through `torch.compile`.

The network is compiled in place (`nn.Module.compile`), not wrapped: its parameter names, and
with them every checkpoint, stay those of the plain network, so a run trained compiled can be
evaluated or resumed without compiling and the other way round. Only the network is compiled; the
task's steps around it (loss, metrics, the divergence check) stay plain Python, which is where
Lightning's hooks run anyway.

What it is meant for: a GPU, and models big enough that kernel launches and Python dispatch are a
visible share of a step (LeNet, AlexNet). The first steps pay the compilation: on this project's
2-core CPU machine a few seconds for an MLP and about 40 s for LeNet with a cold compile cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn


def compile_network(model: nn.Module, options: Mapping[str, Any]) -> None:
    """Compile `model` in place with torch.compile's `options` (the plan's `compile`; whether this
    machine can compile, a C++ compiler on the CPU, is checked with the devices)."""
    model.compile(**options)
