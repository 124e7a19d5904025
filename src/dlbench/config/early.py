"""Refusals that once came only after torch and Lightning were imported (tens of seconds on a
loaded machine), made before: a `_target_` whose package is not installed, a callback's `_target_`
in Python's standard library (`os.system`: nothing there is a Lightning callback), and a GPU
trainer on a machine that has no GPU. Each looks only at what Python and the operating system say without
importing anything of the user's or torch's; where they cannot tell, they let the later check
(`models/custom.import_target`, `config/devices.check_devices`) decide.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dlbench.errors import ConfigError, require
from dlbench.records.checkpoint_file import file_problem

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


# Packages whose import is torch's and Lightning's (seconds): their targets are looked at once the run imported them.
TORCH_PACKAGES = frozenset({"dlbench", "pytorch_lightning", "lightning", "lightning_fabric", "torch", "torchmetrics"})
CALLBACK_BASE = "pytorch_lightning.callbacks.callback.Callback"


def check_callback_classes(callbacks: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> None:
    """Each callback switched on names a class that subclasses pytorch_lightning.Callback (or a function
    annotated to return one, a factory); else one
    sentence naming `callbacks.<name>._target_` and what it must be. A `_target_` is code, like a script
    (docs/bring-your-own.md): the module is imported as Hydra's instantiate would, moments later; what
    is refused is a mistake, said in one sentence instead of Hydra's traceback. Targets in the packages
    `skip` names are left for later (`train.py` asks before torch is imported: `TORCH_PACKAGES`). The
    class is recognised by its bases' names, so Lightning need not be imported to tell."""
    for name, settings in callbacks.items():
        key, expected = f"callbacks.{name}._target_", callback_expected(name)
        target = str(settings.get("_target_") or "") if isinstance(settings, Mapping) else ""
        if not target:
            raise ConfigError(f"callbacks.{name} has no _target_; {expected}.")
        if target.split(".", 1)[0] in skip:
            continue
        found = _located(target)
        if isinstance(found, str):
            raise ConfigError(f"{key}={target} cannot be imported ({found}); {expected}.")
        if _makes_a_callback(found):
            continue
        if not inspect.isclass(found):
            kind = "a function" if callable(found) else f"a {type(found).__name__}"
            raise ConfigError(f"{key}={target} is {kind}, not a Lightning callback class; {expected}.")
        if not any(f"{base.__module__}.{base.__qualname__}" == CALLBACK_BASE for base in found.__mro__):
            raise ConfigError(f"{key}={target} is the class {found.__name__}, not a Lightning callback; {expected}.")


def _makes_a_callback(found: Any) -> bool:
    """A function that says it returns a callback (`-> pl.Callback`, `-> Callback | None`), as
    `dlbench.callbacks.progress.progress_bar` does: a factory Hydra instantiates like a class."""
    if inspect.isclass(found) or not callable(found):
        return False
    try:
        returns = inspect.signature(found).return_annotation
    except (TypeError, ValueError):
        return False
    name = returns if isinstance(returns, str) else getattr(returns, "__name__", str(returns))
    return "Callback" in name


def _located(target: str) -> Any:
    """What the dotted path `target` names (its module imported, as instantiate would), or why not (a str)."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and not module_name.startswith(error.name):
                return f"importing {module_name} needs the module {error.name}, which is not installed"
            continue
        except Exception as error:  # noqa: BLE001 - the user's module failed on import: said in words
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"importing {module_name} failed: {first}"
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return f"{module_name} has no {'.'.join(parts[cut:])}"
            found = getattr(found, attribute)
        return found
    return f"no module named '{parts[0]}'"


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


def check_checkpoint_file(config: Mapping[str, Any]) -> None:
    """A `ckpt_path` that is missing, a directory, an empty file or not a zip archive: said before torch
    is imported (the file's entries and pickle are read later, by `dlbench.run.checkpoints`)."""
    path = config.get("ckpt_path")
    if path is None:
        return
    problem = file_problem(path, "ckpt_path", evaluating=not config.get("train", True), archive=True)
    if problem is not None:
        raise ConfigError(problem)


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
