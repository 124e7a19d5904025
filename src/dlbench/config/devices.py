"""Checks that the hardware `trainer=` asks for exists, before any process is started.

Lightning finds these problems too, but later and in its own words (a stack trace from the
accelerator connector, or a silent switch from 16-mixed to bf16-mixed on the CPU); here each is
one sentence naming the value, what was found and a setting that will run on this machine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

import torch

from dlbench.errors import ConfigError, require

ALL = (-1, "-1", "auto")


def _asked(devices: object, found: int) -> int:
    """How many devices `trainer.devices` names: an int, a list of indices, a "0,1" string or all."""
    if devices in ALL:
        return found
    if isinstance(devices, str):
        items = [item for item in devices.split(",") if item.strip()]
        return len(items) if "," in devices else int(devices)
    if isinstance(devices, int):
        return devices
    return len(list(devices))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _resolve_auto() -> str:
    """What Lightning's `accelerator=auto` picks here, so its settings are checked like a named one."""
    if torch.cuda.is_available():
        return "gpu"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def world_size(trainer: Mapping[str, Any]) -> int:
    """How many processes train: devices per machine times machines, as Lightning counts them."""
    accelerator = _accelerator(trainer)
    found = torch.cuda.device_count() if accelerator in ("gpu", "cuda") and torch.cuda.is_available() else 1
    devices = trainer.get("devices", "auto")
    asked = 1 if accelerator in ("cpu", "mps") and devices in ALL else _asked(devices, found)
    return max(1, asked) * int(trainer.get("num_nodes", 1) or 1)


def _accelerator(trainer: Mapping[str, Any]) -> str:
    accelerator = str(trainer.get("accelerator", "auto"))
    return _resolve_auto() if accelerator == "auto" else accelerator


def cpu_compiler() -> str | None:
    """The C++ compiler TorchInductor would use for CPU kernels, if there is one."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++") or shutil.which("c++")


def check_compiler(options: Mapping[str, Any] | None, trainer: Mapping[str, Any]) -> None:
    """`compile=true` on the CPU: TorchInductor writes and builds C++ kernels, so the run would fail at
    its first step without a compiler; said before training starts instead."""
    if options is None or options.get("backend", "inductor") != "inductor":
        return
    require(
        _accelerator(trainer) not in ("cpu",) or cpu_compiler() is not None,
        "compile=true on the CPU needs a C++ compiler (TorchInductor builds its kernels with one) and none was found; "
        "install g++ or set CXX, or run with compile=false.",
    )


def check_mps(named: str, devices: object, precision: str) -> None:
    """Apple GPUs (trainer=mps): there must be one, it is one device, and it has no float64."""
    if not torch.backends.mps.is_available():
        why = (
            "this PyTorch build has no MPS support"
            if not torch.backends.mps.is_built()
            else "none was found (MPS needs macOS 12.3+ on Apple silicon or an AMD GPU)"
        )
        other = "trainer=gpu or trainer=cpu" if torch.cuda.is_available() else "trainer=cpu"
        raise ConfigError(f"{named} needs an Apple GPU (MPS) but {why}; use {other} to run here.")
    require(
        devices in ALL or _asked(devices, 1) == 1,
        f"trainer.devices={devices} asks for several Apple GPUs, but MPS is one device (no DDP); use "
        "trainer.devices=1.",
    )
    require(
        precision not in ("64", "64-true"),
        f"trainer.precision={precision} does not run on an Apple GPU (MPS has no float64); use 32 or 16-mixed.",
    )


def check_devices(trainer: Mapping[str, Any], preset: str | None = None) -> None:
    """Raise ConfigError when `trainer` asks for devices or a precision this machine does not have.

    `preset` is the `trainer=` option the user chose, named in the message when it is not the default."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "auto":
        accelerator = _resolve_auto()
    devices = trainer.get("devices", "auto")
    precision = str(trainer.get("precision", "32"))
    named = f"trainer={preset}" if preset and preset not in ("default", "cpu") else f"trainer.accelerator={accelerator}"
    if accelerator in ("gpu", "cuda"):
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        require(
            found > 0,
            f"{named} needs a GPU but none was found (torch.cuda.is_available() is False); use trainer=cpu or "
            "trainer=ddp_cpu to run here.",
        )
        asked = _asked(devices, found)
        require(
            asked <= found,
            f"trainer.devices={devices} asks for {_plural(asked, 'GPU')} but {found} "
            f"{'was' if found == 1 else 'were'} found; use trainer.devices={found} or fewer.",
        )
        if precision.startswith("bf16"):
            require(
                torch.cuda.is_bf16_supported(),
                f"trainer.precision={precision} needs a GPU with bfloat16 (Ampere or newer), but "
                f"{torch.cuda.get_device_name(0)} has none; use trainer.precision=16-mixed or 32.",
            )
    elif accelerator == "mps":
        check_mps(named, devices, precision)
    elif accelerator == "cpu":
        require(
            precision not in ("16-mixed", "16-true"),
            f"trainer.precision={precision} needs a GPU (float16 autocast does not run on the CPU); use "
            "trainer.precision=bf16-mixed or 32 on the CPU.",
        )
        require(
            devices in ALL or _asked(devices, 1) >= 1,
            f"trainer.devices={devices} must be >= 1 CPU processes.",
        )
