"""Build a model config against the data's spec, or say why the pair cannot work."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, find_config_error
from dlbench.models.custom import (
    DATA_KEYWORDS,
    check_constructor,
    check_required,
    data_arguments,
    import_target,
    model_name,
)


def check_model(model_cfg: Mapping[str, Any], spec: DataSpec) -> None:
    """Refuse a model that cannot read this data, or an option its class does not take.

    A model class may define `check_data(spec, name)` to refuse data it cannot read (LeNet on a
    table); an option the class does not take (dropout on a model without a dropout layer) is
    named with the nearest options the class does take. A class of the user's
    (`model._target_=my_package.MyNet`) gets the same treatment: the data keywords it declares
    (models/custom.py) and its own options.
    """
    target = str(model_cfg["_target_"])
    cls = import_target(target)
    name = model_name(model_cfg)
    check = getattr(cls, "check_data", None)
    if check is not None:
        check(spec, name)
    parameters = inspect.signature(cls).parameters
    check_constructor(target, cls, parameters)
    options = {key for key in parameters if key not in DATA_KEYWORDS and key != "self"}
    takes_any = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters.values())
    for key in model_cfg:
        if key not in options and key not in ("_target_", "name") and not takes_any:
            nearest = difflib.get_close_matches(str(key), sorted(options), n=1)
            hint = f"did you mean model.{nearest[0]}? " if nearest else ""
            raise ConfigError(
                f"model.{key} does not apply to model {name}; {hint}its options are: {', '.join(sorted(options))}."
            )
    check_required(target, parameters, {str(key) for key in model_cfg})


def build_model(model_cfg: Mapping[str, Any], spec: DataSpec) -> nn.Module:
    """Instantiate `model_cfg` with the data keywords its constructor declares (input shape, outputs).

    A ConfigError from the constructor (layers that shrink the image to nothing) is raised as
    itself, not inside Hydra's InstantiationException, so every caller gets the one sentence.
    """
    check_model(model_cfg, spec)
    target = str(model_cfg["_target_"])
    from_data = data_arguments(inspect.signature(import_target(target)).parameters, spec)
    config = {key: value for key, value in model_cfg.items() if key != "name"}
    try:
        model = instantiate(config, **from_data, _convert_="all")
    except InstantiationException as error:
        mistake = find_config_error(error)
        if mistake is None:
            raise
        raise mistake from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model._target_={target} returned a {type(model).__name__}, not a torch.nn.Module.")
    return model
