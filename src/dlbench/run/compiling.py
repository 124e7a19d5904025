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

import os
import shutil
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dlbench.errors import require


def compile_options(value: Any) -> dict[str, Any] | None:
    """`torch.compile`'s keyword arguments for the `compile` key, or None for no compiling.

    `compile=true` compiles with torch's defaults; a mapping passes its keys on, e.g.
    `compile={mode:max-autotune}` or `compile={dynamic:false}`."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    require(
        isinstance(value, Mapping),
        f"compile={value!r} is neither true/false nor a mapping of torch.compile options; use compile=true or "
        f"compile={{mode:max-autotune}}.",
    )
    return dict(value)


def cpu_compiler() -> str | None:
    """The C++ compiler TorchInductor would use for CPU kernels, if there is one."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++") or shutil.which("c++")


def compile_network(model: nn.Module, value: Any, accelerator: str | None) -> bool:
    """Compile `model` in place as the `compile` key says; returns whether it was compiled.

    On the CPU TorchInductor writes and builds C++ kernels: without a compiler the run would fail at
    its first step, so that is said before training starts."""
    options = compile_options(value)
    if options is None:
        return False
    on_cpu = accelerator == "cpu" or not torch.cuda.is_available()
    require(
        not on_cpu or options.get("backend", "inductor") != "inductor" or cpu_compiler() is not None,
        "compile=true on the CPU needs a C++ compiler (TorchInductor builds its kernels with one) and none was found; "
        "install g++ or set CXX, or run with compile=false.",
    )
    model.compile(**options)
    return True
