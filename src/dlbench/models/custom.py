"""Your own network as `model._target_=my_package.MyNet`: what dlbench passes it, and when it cannot.

dlbench builds every model from the data's spec, so a model config carries only architecture
choices. A class of yours gets the same treatment: its constructor receives, by name, whichever
of these keywords it declares, and the rest of `model.*` as its own options:

| keyword        | value                                           | e.g. for Iris | for MNIST    |
|----------------|-------------------------------------------------|---------------|--------------|
| `input_shape`  | shape of one example, a tuple                   | (4,)          | (1, 28, 28)  |
| `num_outputs`  | outputs the task needs (classes; 1 for binary)  | 3             | 10           |
| `num_classes`  | the same number, under torchvision's name       | 3             | 10           |
| `in_features`  | values per example (the product of the shape)   | 4             | 784          |
| `in_channels`  | first entry of the shape (channels of an image) | 4             | 1            |
| `per_step`     | True when the dataset wants an output per step  | False         | False        |

It must declare `num_outputs` or `num_classes` (a model whose size does not follow the data cannot
be paired with any dataset), unless it is an autoencoder: a class attribute `reconstructs = True`
makes the task train it to give back its input (the loss against the input, labels unused).

`model._target_=...` on the command line keeps the keys of the model preset it replaces
(`model.hidden`, `model.activation` of model=mlp): those your class does not take, still at the
preset's values, describe the preset's network, not yours, and are dropped; a key set on purpose
(`model.hidden=[64]`, regularizer=dropout's `model.dropout`) must fit.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError

OUTPUT_KEYWORDS = ("num_outputs", "num_classes")
DATA_KEYWORDS = ("input_shape", "num_outputs", "num_classes", "in_features", "in_channels", "per_step")
DOCS = "docs/bring-your-own.md"


def model_name(model: Mapping[str, Any]) -> str:
    """The name a user types (`model=lenet`): the config's `name`, else the class name in lower case."""
    return str(model.get("name") or str(model.get("_target_", "model")).rsplit(".", 1)[-1].lower())


def data_arguments(parameters: Mapping[str, inspect.Parameter], spec: DataSpec) -> dict[str, Any]:
    """The data keywords the constructor declares, with this dataset's values."""
    values = {
        "input_shape": tuple(spec.input_shape),
        "num_outputs": spec.num_outputs,
        "num_classes": spec.num_outputs,
        "in_features": math.prod(spec.input_shape),
        "in_channels": spec.input_shape[0],
        "per_step": spec.per_step,
    }
    return {key: value for key, value in values.items() if key in parameters}


def import_target(target: str) -> Callable[..., Any]:
    """The class (or function) `model._target_` names, or one sentence on why it cannot be imported."""
    import logging

    from hydra.utils import get_class, get_method

    hydra_log = logging.getLogger("hydra.utils")  # logs an ERROR block per failed try: the sentence says it once
    was_disabled, hydra_log.disabled = hydra_log.disabled, True
    try:
        return get_class(target)
    except Exception:  # noqa: BLE001 - maybe a function that returns a module; else explain below
        pass
    try:
        return get_method(target)
    except Exception as error:  # noqa: BLE001
        cause = error.__cause__ or error
        raise ConfigError(
            f"model._target_={target} cannot be imported ({type(cause).__name__}: {str(cause).splitlines()[0]}); "
            "make its package importable (pip install -e it, or run from the folder that holds it, or add that "
            f"folder to PYTHONPATH) and give the full dotted path, module.Class; see {DOCS}."
        ) from None
    finally:
        hydra_log.disabled = was_disabled


def check_constructor(target: str, cls: Callable[..., Any], parameters: Mapping[str, inspect.Parameter]) -> None:
    """A class of ours or yours: an nn.Module that sizes its output from the data."""
    from torch import nn

    if inspect.isclass(cls) and not issubclass(cls, nn.Module):
        raise ConfigError(
            f"model._target_={target} is not a torch.nn.Module (it is a {cls.__mro__[1].__name__} subclass); "
            f"give a network class; see {DOCS}."
        )
    reconstructs = bool(getattr(cls, "reconstructs", False))  # an autoencoder's output is its input
    if not reconstructs and not any(keyword in parameters for keyword in OUTPUT_KEYWORDS):
        declared = ", ".join(name for name in parameters if name != "self") or "nothing"
        raise ConfigError(
            f"model._target_={target} takes ({declared}) but not num_outputs or num_classes, so its output cannot "
            "follow the dataset; add num_outputs (and input_shape or in_features, if it needs the input size) to "
            f"its constructor; see {DOCS}."
        )


def check_required(target: str, parameters: Mapping[str, inspect.Parameter], given: set[str]) -> None:
    """A constructor argument without a default that neither the data nor `model.*` provides."""
    for name, parameter in parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or name == "self":
            continue
        if parameter.default is inspect.Parameter.empty and name not in given and name not in DATA_KEYWORDS:
            raise ConfigError(
                f"model._target_={target} needs {name} (its constructor has no default for it); add "
                f"+model.{name}=<value> to the command line, or give it a default."
            )


def drop_preset_leftovers(model: Mapping[str, Any], preset: Mapping[str, Any] | None) -> dict[str, Any]:
    """With `model._target_` swapped for another class, drop the preset's keys the class does not take.

    Only keys still at the preset's value go: anything changed on the command line or by another
    config (regularizer=dropout sets model.dropout) stays, and the class must take it. `preset` is
    the chosen model option's own config (configs/model/<choice>.yaml); nothing is dropped when
    the target is the preset's own, or without a preset.
    """
    target = str(model.get("_target_", ""))
    if preset is None or not target or target == preset.get("_target_"):
        return dict(model)
    parameters = inspect.signature(import_target(target)).parameters
    takes_any = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values())

    def leftover(key: str) -> bool:
        if key == "name":
            return preset.get("name") == model.get("name")
        return key in preset and key not in parameters and not takes_any and model[key] == preset[key]

    return {key: value for key, value in model.items() if key == "_target_" or not leftover(key)}
