"""The loss a task trains with: chosen from the data's kind unless the config names one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError
from dlbench.tasks.output_units import (
    OUTPUT_LOSSES,
    check_output_fit,
    make_output_loss,
    network_spec,
    output_options,
    uses_output_loss,
)

LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss,
    "bce": nn.BCEWithLogitsLoss,
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
    **dict.fromkeys(OUTPUT_LOSSES),  # built by dlbench.tasks.output_units (docs/output-units.md)
}
CLASS_LOSSES = ("cross_entropy", "bce")


def default_loss(spec: DataSpec, reconstruct: bool) -> str:
    """Cross-entropy for classes, BCE for one binary output, MSE for regression and reconstruction."""
    if reconstruct:
        return "mse"
    return {"multiclass": "cross_entropy", "binary": "bce", "regression": "mse"}[spec.kind]


def check_loss(name: str, spec: DataSpec, reconstruct: bool, output: Mapping[str, Any] | None = None) -> str:
    """The loss a run trains with (`auto` resolved), or one sentence saying why `name` cannot fit the data."""
    if name == "auto":
        return default_loss(spec, reconstruct)
    if name not in LOSSES:
        raise ConfigError(f"loss={name!r} is unknown; choose auto or one of {', '.join(LOSSES)}.")
    if reconstruct and name == "cross_entropy":
        raise ConfigError(
            "loss=cross_entropy is a classification loss and cannot train a reconstruction; use loss=mse or loss=bce."
        )
    if not reconstruct and name == "cross_entropy" and spec.kind != "multiclass":
        raise ConfigError(
            f"loss=cross_entropy needs class labels, but dataset {spec.name} is {spec.kind}; use loss=auto "
            f"({default_loss(spec, reconstruct)})."
        )
    if name in OUTPUT_LOSSES:  # said better there (the loss, the dataset and what would work)
        check_output_fit(name, spec, "model", None, reconstruct, output)
    if not reconstruct and name not in ("cross_entropy", "dice", "wasserstein_dice") and spec.kind == "multiclass":
        raise ConfigError(
            f"loss={name} compares one output with one target, but dataset {spec.name} has {spec.num_outputs} "
            "classes as labels; use loss=auto (cross_entropy)."
        )
    return name


def make_loss(
    name: str,
    spec: DataSpec,
    reconstruct: bool,
    label_smoothing: float = 0.0,
    output: Mapping[str, Any] | None = None,
) -> nn.Module:
    """The loss module for `name` ('auto' picks `default_loss`)."""
    name = check_loss(name, spec, reconstruct, output)
    if name == "cross_entropy":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if uses_output_loss(name, spec, reconstruct, output):
        return make_output_loss(name, spec, reconstruct, output)
    return LOSSES[name]()


def fit_output(cfg: Mapping[str, Any], spec: DataSpec) -> tuple[DataSpec, dict[str, Any]]:
    """For a run's config: check its loss and `output.*` against the data and the model, and return
    the spec to build the model from (with the outputs the unit needs) and the output options."""
    from hydra.utils import get_class

    from dlbench.models.custom import model_name

    raw = cfg.get("output")
    options = output_options(dict(raw.items()) if raw is not None else None)
    if options["class_distances"] is not None:
        options["class_distances"] = [list(row) for row in options["class_distances"]]
    model_class = get_class(str(cfg["model"]["_target_"]))
    reconstruct = bool(getattr(model_class, "reconstructs", False))
    loss = str(cfg.get("loss", "auto"))
    if loss == "auto":
        loss = default_loss(spec, reconstruct)
    check_output_fit(loss, spec, model_name(cfg["model"]), model_class, reconstruct, options)
    return network_spec(spec, loss, options), options
