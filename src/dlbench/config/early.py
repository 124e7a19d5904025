"""Refusals that once came only after torch and Lightning were imported (tens of seconds on a
loaded machine), made before: a `_target_` whose package is not installed, a callback's `_target_`
in Python's standard library (`os.system`: nothing there is a Lightning callback), and a GPU
trainer on a machine that has no GPU. Each looks only at what Python and the operating system say without
importing anything of the user's or torch's; where they cannot tell, they let the later check
(`models/custom.import_target`, `config/devices.check_devices`) decide.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlbench.errors import ConfigError, require

# Devices a CUDA (or ROCm, which torch also calls cuda) GPU shows on Linux once its driver is loaded.
GPU_DEVICE_FILES = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def check_targets(config: Mapping[str, Any]) -> None:
    """`model._target_`, `dataset._target_` and each `callbacks.<name>._target_` must name a package
    Python can find; a callback's must not name Python's standard library (no Lightning callback is there)."""
    for group, hint in (
        ("model", "docs/bring-your-own.md"),
        ("dataset", "docs/bring-your-own.md"),
    ):
        target = str((config.get(group) or {}).get("_target_") or "")
        _require_package(f"{group}._target_", target, f"give the full dotted path, module.Class; see {hint}")
    for name, spec in (config.get("callbacks") or {}).items():
        if not isinstance(spec, Mapping) or not spec.get("_target_") or spec.get("enabled", True) is False:
            continue
        target = str(spec["_target_"])
        key, expected = f"callbacks.{name}._target_", callback_expected(name)
        _require_package(key, target, expected)
        package = target.split(".", 1)[0]
        if package in getattr(sys, "stdlib_module_names", ()):
            raise ConfigError(
                f"{key}={target} names part of Python's standard library ({package}), not a Lightning callback; "
                f"{expected}."
            )


def callback_expected(name: str) -> str:
    """What a `callbacks.<name>._target_` must name, and the way out (the end of each sentence about one)."""
    return (
        "give a class that subclasses pytorch_lightning.Callback, as module.Class (e.g. "
        f"pytorch_lightning.callbacks.EarlyStopping), or drop the entry with ~callbacks.{name}"
    )


def _require_package(key: str, target: str, expected: str) -> None:
    package = target.split(".", 1)[0]
    if not package or package in sys.modules:
        return
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"{key}={target} cannot be imported (no module named '{package}'); make its package importable "
            "(pip install -e it, or run from the folder that holds it, or add that folder to PYTHONPATH) and "
            f"{expected}."
        )


def has_no_gpu() -> bool:
    """True only where it is certain: Linux, and no GPU driver's device is there or none is visible."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return True
    if not sys.platform.startswith("linux"):
        return False
    if any(Path(path).exists() for path in GPU_DEVICE_FILES):
        return False
    return not (NVIDIA_GPUS.is_dir() and any(NVIDIA_GPUS.iterdir()))


def check_gpu_present(trainer: Mapping[str, Any], preset: str | None = None) -> None:
    """A trainer that asks for a GPU (trainer=gpu, trainer=ddp) on a machine that has none."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator not in ("gpu", "cuda"):
        return
    named = f"trainer={preset}" if preset and preset not in ("default", "cpu") else f"trainer.accelerator={accelerator}"
    require(
        not has_no_gpu(),
        f"{named} needs a GPU but none was found (no GPU driver on this machine, or CUDA_VISIBLE_DEVICES empty); "
        "use trainer=cpu or trainer=ddp_cpu to run here.",
    )


def check_predict(config: Mapping[str, Any]) -> None:
    """`predict` names a split, and the weights it predicts with are the tested ones (`test=true`)."""
    split = config.get("predict")
    if split in (None, False):
        return
    require(split in ("val", "test"), f"predict={split} must be test, val or null (no predictions file).")
    require(
        bool(config.get("test", True)),
        f"predict={split} writes the predictions of the weights the run tests, but test=false; drop test=false "
        "(with train=false and ckpt_path=..., the checkpoint is what is tested).",
    )
