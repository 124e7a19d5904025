"""Regularizers that live in the loss or the training step, and the checks for all of them.

Each regularizer option (`configs/regularizer/*.yaml`) sets one knob: a model setting (dropout,
batch norm), a callback (early stopping, max-norm, weight noise), a dataset setting (augment), a
task setting (input noise, adversarial examples, label smoothing) or a loss term in `penalty`
(l1, l2, activity_l1). This module builds the loss terms and refuses, before training, any
regularizer that cannot apply to the chosen model and data.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import DictConfig
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, require
from dlbench.models.activations import Maxout
from dlbench.training.initializers import is_weight

Penalty = Callable[[nn.Module], Tensor]
PENALTIES = ("l1", "l2", "activity_l1")
# Modules whose outputs are a network's hidden representation (after the nonlinearity).
ACTIVATION_MODULES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.GELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.SiLU,
    Maxout,
)


def weights(model: nn.Module) -> list[Tensor]:
    """The weights a weight penalty acts on: matrices and kernels, never biases or norm scales."""
    return [parameter for name, parameter in model.named_parameters() if is_weight(name, parameter)]


def l1_penalty(lam: float) -> Penalty:
    """lambda x sum |w|: pushes weights to exactly zero (a sparse network)."""
    return lambda model: lam * sum(w.abs().sum() for w in weights(model))


def l2_penalty(lam: float) -> Penalty:
    """lambda x sum w^2: weight decay written as a loss term, so it shows in `train/penalty`."""
    return lambda model: lam * sum(w.pow(2).sum() for w in weights(model))


class ActivityL1:
    """lambda x mean over examples of sum |h| of every hidden activation: sparse hidden codes.

    Forward hooks on the model's activation modules record the last forward pass, which is the
    one whose loss the task is about to add this term to.
    """

    def __init__(self, model: nn.Module, lam: float, name: str = "model") -> None:
        modules = [module for module in model.modules() if isinstance(module, ACTIVATION_MODULES)]
        if not modules:
            raise ConfigError(
                f"regularizer=activity_l1 needs hidden layers with an activation, but {name} has none; use a "
                "model with hidden units, e.g. model=mlp."
            )
        self.lam = lam
        self.activity: dict[int, Tensor] = {}
        for index, module in enumerate(modules):
            module.register_forward_hook(self._recorder(index))

    def _recorder(self, index: int) -> Callable[..., None]:
        def record(_module: nn.Module, _inputs: Any, output: Tensor) -> None:
            self.activity[index] = output.abs().sum() / output.shape[0]

        return record

    def __call__(self, model: nn.Module) -> Tensor:
        return self.lam * sum(self.activity.values())


def make_penalties(
    penalty_cfg: DictConfig | dict | None, model: nn.Module, model_name: str = "model"
) -> list[tuple[str, Penalty]]:
    """The loss terms named in `penalty` (e.g. `{l1: 1e-4}`), in the order given."""
    terms: list[tuple[str, Penalty]] = []
    for name, lam in (penalty_cfg or {}).items():
        if name not in PENALTIES:
            raise ConfigError(f"penalty.{name} is unknown; the loss terms are {', '.join(PENALTIES)}.")
        require(
            isinstance(lam, (int, float)) and lam >= 0,
            f"penalty.{name}={lam} is a lambda < 0; a penalty weight must be >= 0, e.g. 1e-4.",
        )
        if name == "l1":
            terms.append((name, l1_penalty(float(lam))))
        elif name == "l2":
            terms.append((name, l2_penalty(float(lam))))
        else:
            terms.append((name, ActivityL1(model, float(lam), model_name)))
    return terms


def fgsm(model: nn.Module, loss_fn: nn.Module, inputs: Tensor, targets: Tensor, epsilon: float) -> Tensor:
    """The fast gradient sign method (Goodfellow et al. 2015): `x + epsilon sign(grad_x loss)`.

    Only the input gradient is taken, so the parameters' gradients are left as they were.
    """
    with torch.enable_grad():
        probe = inputs.detach().requires_grad_(True)
        loss = loss_fn(model(probe), targets)
        (gradient,) = torch.autograd.grad(loss, probe)
    return (inputs + epsilon * gradient.sign()).detach()


def task_options(cfg: DictConfig) -> dict[str, float]:
    """The regularizers the task applies in its training step (`task.*` in the config)."""
    task = cfg.get("task") or {}
    return {
        "input_noise": float(task.get("input_noise", 0.0)),
        "adversarial_epsilon": float(task.get("adversarial_epsilon", 0.0)),
        "label_smoothing": float(task.get("label_smoothing", 0.0)),
    }


def _takes(target: str, option: str) -> bool:
    """Whether the class takes `option`, also through `**kwargs` passed on to a base class."""
    try:
        cls = get_class(target)
    except Exception:  # an unimportable target is reported by whoever builds it
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


def check_regularizers(cfg: DictConfig, spec: DataSpec | None = None) -> None:
    """Refuse, in one sentence each, regularizer settings that are out of range or cannot apply."""
    model_name = str(cfg.model.get("name") or cfg.model._target_.rsplit(".", 1)[-1].lower())
    for key, regularizer, what in (
        ("dropout", "dropout", "dropout layer"),
        ("batch_norm", "batchnorm", "batch-norm layer"),
    ):
        if key in cfg.model and not _takes(cfg.model._target_, key):
            raise ConfigError(
                f"regularizer={regularizer} cannot apply to model {model_name}, which has no {what} "
                f"(model.{key}); use a model that has one, e.g. model=mlp."
            )
    # regularizer=augment on a dataset without images: the data module refuses it in setup()
    options = task_options(cfg)
    require(
        options["input_noise"] >= 0,
        f"task.input_noise={options['input_noise']} is a standard deviation < 0; use e.g. 0.1.",
    )
    require(
        options["adversarial_epsilon"] >= 0,
        f"task.adversarial_epsilon={options['adversarial_epsilon']} is an epsilon < 0; use e.g. 0.1.",
    )
    require(
        0 <= options["label_smoothing"] < 1,
        f"task.label_smoothing={options['label_smoothing']} is outside [0, 1); use e.g. 0.1.",
    )
    if options["label_smoothing"] > 0 and spec is not None:
        require(
            spec.kind == "multiclass" and cfg.get("loss", "auto") in ("auto", "cross_entropy"),
            f"regularizer=label_smoothing needs a cross-entropy loss over classes, but dataset {spec.name} is "
            f"{spec.kind}; drop label_smoothing or pick a classification dataset.",
        )
    for name, lam in (cfg.get("penalty") or {}).items():
        require(
            not isinstance(lam, (int, float)) or lam >= 0,
            f"penalty.{name}={lam} is a lambda < 0; a penalty weight must be >= 0, e.g. 1e-4.",
        )
    callbacks = cfg.get("callbacks") or {}
    stopping = callbacks.get("early_stopping")
    if stopping:
        require(
            stopping.get("patience", 3) >= 1,
            f"callbacks.early_stopping.patience={stopping.get('patience')} must be >= 1 epoch; try 10.",
        )
        require(
            stopping.get("min_delta", 0.0) >= 0,
            f"callbacks.early_stopping.min_delta={stopping.get('min_delta')} must be >= 0.",
        )
        require(
            stopping.get("mode", "min") in ("min", "max"),
            f"callbacks.early_stopping.mode={stopping.get('mode')!r} must be 'min' or 'max'.",
        )
    if callbacks.get("max_norm"):
        bound = callbacks.max_norm.get("max_norm")
        require(
            bound is not None and bound > 0,
            f"callbacks.max_norm.max_norm={bound} must be > 0; Srivastava et al. (2014) used 3 to 4.",
        )
    if callbacks.get("weight_noise"):
        std = callbacks.weight_noise.get("std")
        require(
            std is not None and std >= 0,
            f"callbacks.weight_noise.std={std} is a standard deviation < 0; use e.g. 0.01.",
        )
    clip = cfg.trainer.get("gradient_clip_val")
    require(clip is None or clip >= 0, f"trainer.gradient_clip_val={clip} must be >= 0 (or null for no clipping).")
