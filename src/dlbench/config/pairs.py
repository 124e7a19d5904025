"""Checks that need to know the data: the model, the loss and the regularizers against what it is.

The second stage of `resolve` (see `dlbench.config.plan`): it runs once the data module has said
what the data is (its `DataSpec`), before the network is built. Each refusal names both sides of
the pair and something that would work (`lenet needs image inputs ...; use model=mlp.`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hydra.utils import get_class

from dlbench.config.schema import SCALING_KEYS
from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, require
from dlbench.models.build import check_model
from dlbench.tasks.losses import check_loss, fit_output

REGULARIZED_LAYERS = (("dropout", "dropout", "dropout layer"), ("batch_norm", "batchnorm", "batch-norm layer"))


def _takes(target: str, option: str) -> bool:
    """Whether the class takes `option`, also through `**kwargs` passed on to a base class."""
    try:
        cls = get_class(target)
    except Exception:  # noqa: BLE001 - an unimportable target is reported by whoever builds it
        return True
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__:
            continue
        parameters = inspect.signature(klass.__dict__["__init__"]).parameters
        if option in parameters:
            return True
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return False
    return False


def check_regularizers(config: Mapping[str, Any], spec: DataSpec, name: str) -> None:
    """Regularizers that set a model option the model does not have, or need a kind of data."""
    model = config["model"]
    for key, regularizer, what in REGULARIZED_LAYERS:
        if key in model and not _takes(model["_target_"], key):
            raise ConfigError(
                f"regularizer={regularizer} cannot apply to model {name}, which has no {what} (model.{key}); use a "
                "model that has one, e.g. model=mlp."
            )
    smoothing = float((config.get("task") or {}).get("label_smoothing", 0.0))
    if smoothing > 0:
        require(
            spec.kind == "multiclass" and config.get("loss", "auto") in ("auto", "cross_entropy"),
            f"regularizer=label_smoothing needs a cross-entropy loss over classes, but dataset {spec.name} is "
            f"{spec.kind}; drop label_smoothing or pick a classification dataset.",
        )


def check_optimizer(optimizer: Mapping[str, Any]) -> None:
    """Build the optimizer once on a dummy parameter, so torch's own range checks run before training."""
    import torch
    from hydra.utils import instantiate

    factory = instantiate({key: value for key, value in optimizer.items() if key not in SCALING_KEYS})
    try:
        factory([torch.zeros(1, requires_grad=True)])
    except (ValueError, TypeError) as error:
        detail = str(error).rstrip(".").replace(".__init__()", "()")
        target = str(optimizer.get("_target_", "optimizer")).rsplit(".", 1)[-1]
        raise ConfigError(f"{target} refuses the optimizer.* settings ({detail}); fix the value it names.") from None


def check_pairs(config: Mapping[str, Any], spec: DataSpec, name: str) -> DataSpec:
    """Every check that needs the data's spec (or torch itself), one sentence each; returns the spec
    the network is built for (the data's, with as many outputs as the loss's output unit needs)."""
    check_regularizers(config, spec, name)  # first: names the regularizer that set a model option
    check_model(config["model"], spec)
    network, output = fit_output(config, spec)  # the loss's output unit against the data and the model
    reconstruct = bool(getattr(get_class(config["model"]["_target_"]), "reconstructs", False))
    check_loss(str(config.get("loss", "auto")), spec, reconstruct, output)
    check_optimizer(config["optimizer"])
    return network
