"""Build a model config against the data's spec, or say why the pair cannot work."""

from __future__ import annotations

import inspect

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig
from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, find_config_error


def model_name(model_cfg: DictConfig) -> str:
    """The name a user types (`model=lenet`), from the config or the class."""
    return str(model_cfg.get("name") or model_cfg._target_.rsplit(".", 1)[-1].lower())


def build_model(model_cfg: DictConfig, spec: DataSpec) -> nn.Module:
    """Instantiate `model_cfg` with the data's input shape and number of outputs.

    A model class may define `check_data(spec, name)` to refuse data it cannot read (LeNet on a
    table); an option the class does not take (dropout on a model without a dropout layer) is
    refused here too, with the options it does take. A ConfigError from the constructor (a code
    size < 1) is raised as itself, not inside Hydra's InstantiationException, so every caller
    gets the one sentence.
    """
    cls = get_class(model_cfg._target_)
    name = model_name(model_cfg)
    check = getattr(cls, "check_data", None)
    if check is not None:
        check(spec, name)
    parameters = inspect.signature(cls).parameters
    from_data = {"input_shape": spec.input_shape, "num_outputs": spec.num_outputs, "per_step": spec.per_step}
    options = set(parameters) - set(from_data)
    for key in model_cfg:
        if key not in options and key not in ("_target_", "name"):
            raise ConfigError(
                f"model.{key} does not apply to model {name}; its options are: {', '.join(sorted(options))}."
            )
    kwargs = {key: value for key, value in from_data.items() if key in parameters}
    config = {key: value for key, value in model_cfg.items() if key != "name"}
    try:
        return instantiate(config, **kwargs, _convert_="all")
    except InstantiationException as error:
        mistake = find_config_error(error)
        if mistake is None:
            raise
        raise mistake from None
