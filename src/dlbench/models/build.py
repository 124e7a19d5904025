"""Build a model config against the data's spec, or say why the pair cannot work."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from torch import nn

from dlbench.config.plan import model_name
from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, find_config_error

FROM_DATA = ("input_shape", "num_outputs", "per_step")


def check_model(model_cfg: Mapping[str, Any], spec: DataSpec) -> None:
    """Refuse a model that cannot read this data, or an option its class does not take.

    A model class may define `check_data(spec, name)` to refuse data it cannot read (LeNet on a
    table); an option the class does not take (dropout on a model without a dropout layer) is
    named with the nearest options the class does take.
    """
    cls = get_class(str(model_cfg["_target_"]))
    name = model_name(model_cfg)
    check = getattr(cls, "check_data", None)
    if check is not None:
        check(spec, name)
    options = set(inspect.signature(cls).parameters) - set(FROM_DATA)
    for key in model_cfg:
        if key not in options and key not in ("_target_", "name"):
            nearest = difflib.get_close_matches(str(key), sorted(options), n=1)
            hint = f"did you mean model.{nearest[0]}? " if nearest else ""
            raise ConfigError(
                f"model.{key} does not apply to model {name}; {hint}its options are: {', '.join(sorted(options))}."
            )


def build_model(model_cfg: Mapping[str, Any], spec: DataSpec) -> nn.Module:
    """Instantiate `model_cfg` with the data's input shape and number of outputs.

    A ConfigError from the constructor (layers that shrink the image to nothing) is raised as
    itself, not inside Hydra's InstantiationException, so every caller gets the one sentence.
    """
    check_model(model_cfg, spec)
    parameters = inspect.signature(get_class(str(model_cfg["_target_"]))).parameters
    from_data = {"input_shape": spec.input_shape, "num_outputs": spec.num_outputs, "per_step": spec.per_step}
    kwargs = {key: value for key, value in from_data.items() if key in parameters}
    config = {key: value for key, value in model_cfg.items() if key != "name"}
    try:
        return instantiate(config, **kwargs, _convert_="all")
    except InstantiationException as error:
        mistake = find_config_error(error)
        if mistake is None:
            raise
        raise mistake from None
