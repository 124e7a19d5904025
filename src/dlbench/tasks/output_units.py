"""The output unit and its cost, as one choice: `loss=<name>` plus the `output.*` knobs.

The course notes pair each kind of target with a distribution, an output layer and a cost
(docs/output-units.md has the table and what dlbench offers for each row). Here that pairing is
made once for a run:

- `network_spec`: how many outputs the network must give (a Gaussian with a learned variance
  needs two per target, a mixture of K Gaussians K x (D + 2)), so models stay unaware of it;
- `make_output_loss`: the loss module, with the output unit inside it;
- `Readout`: how an output is read as a prediction, for accuracy (at the 0.5 threshold, or
  within a tolerance of the target as Rumelhart, Hinton & Williams 1986 counted);
- `check_output_fit`: every refusal, one sentence each, before anything is built.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError, require
from dlbench.tasks.dice import SoftDiceLoss, WassersteinDiceLoss, check_class_distances
from dlbench.tasks.likelihoods import GaussianNLL, MixtureDensityNLL, SquaredError

# The losses this module adds to `losses.LOSSES`, and the data each one needs.
OUTPUT_LOSSES = ("sse", "gaussian_nll", "mdn", "dice", "wasserstein_dice")
REGRESSION_LOSSES = ("gaussian_nll", "mdn")
PIXEL_LOSSES = ("dice", "wasserstein_dice")
UNITS = ("auto", "sigmoid", "linear")
# The `output:` node of configs/train.yaml, for callers that pass none.
DEFAULTS: dict[str, Any] = {"unit": "auto", "variance": "learned", "components": 5, "smooth": 1.0}
DEFAULTS["class_distances"] = None


def output_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The `output.*` knobs with the defaults filled in."""
    return {**DEFAULTS, **dict(options or {})}


def fixed_variance(options: Mapping[str, Any]) -> float | None:
    """None when the variance is learned, else the fixed variance."""
    variance = options["variance"]
    return None if variance in (None, "learned") else float(variance)


def check_output_fit(
    loss: str,
    spec: DataSpec,
    model_name: str,
    model_class: type | None,
    reconstruct: bool,
    options: Mapping[str, Any] | None,
) -> None:
    """Refuse, before training, an output unit or loss that cannot fit this data and model.

    Each refusal is one sentence naming the loss (or `output.*` key), the dataset or model, and
    what would work. Called with the resolved loss name (`auto` already replaced).
    """
    options = output_options(options)
    data = f"dataset {spec.name}"
    pixel_data = spec.per_pixel
    # -- the model's output against the data -------------------------------------------------
    if pixel_data and not reconstruct and model_class is not None:
        require(
            bool(getattr(model_class, "per_pixel", False)),
            f"{data} wants a class for every pixel of its {spec.describe()}, but model {model_name} gives one "
            "prediction per example; use model=encoder_decoder.",
        )
    if getattr(model_class, "per_pixel", False):
        require(
            pixel_data,
            f"model {model_name} gives a class for every pixel, but {data} has one target per example; use it on "
            "a segmentation dataset such as dataset=shapes, or model=mlp here.",
        )
    # -- the loss against the data -----------------------------------------------------------
    if loss in PIXEL_LOSSES:
        require(
            pixel_data and not reconstruct,
            f"loss={loss} scores the overlap of pixel classes, but {data} "
            + ("is reconstructed by an autoencoder" if reconstruct else f"is {spec.kind} with one target per example")
            + "; use loss=auto there, or a segmentation dataset such as dataset=shapes with model=encoder_decoder.",
        )
    if loss == "wasserstein_dice":
        require(
            spec.kind == "multiclass",
            f"loss=wasserstein_dice weighs mistakes by a distance between classes, but {data} has two (a binary "
            "mask); use loss=dice.",
        )
        distances = options["class_distances"]
        if distances is None:
            distances = spec.class_distances
        require(
            distances is not None,
            f"loss=wasserstein_dice needs a distance between every two classes, and {data} has none of its own; "
            f"set output.class_distances to a {spec.num_outputs} x {spec.num_outputs} matrix.",
        )
        check_class_distances(distances, spec.num_outputs)
    if loss in REGRESSION_LOSSES:
        what = "a Gaussian" if loss == "gaussian_nll" else "a mixture of Gaussians"
        require(
            spec.kind == "regression" or reconstruct,
            f"loss={loss} models a continuous target as {what}, but {data} is {spec.kind} with class labels; use "
            "loss=auto there, or a regression dataset such as dataset="
            + ("heteroscedastic." if loss == "gaussian_nll" else "inverse_sine."),
        )
        learned = loss == "mdn" or fixed_variance(options) is None
        if learned:
            sized = model_class is None or "num_outputs" in inspect.signature(model_class).parameters
            extra = "mixing weights, means and scales" if loss == "mdn" else "a variance output"
            require(
                sized and not reconstruct,
                f"loss={loss} needs the network to give {extra} for each target, but model {model_name} "
                "rebuilds its input and has no such outputs; use a model whose output layer is sized from the "
                "data, e.g. model=mlp"
                + (", or a fixed variance (output.variance=0.5)." if loss == "gaussian_nll" else "."),
            )
    if options["unit"] == "sigmoid":
        require(
            loss in ("mse", "sse") and spec.kind == "binary" and not reconstruct,
            f"output.unit=sigmoid squashes the output of a squared error into (0, 1) for 0/1 targets, but the run "
            f"has loss={loss} on {data} ({'reconstruction' if reconstruct else spec.kind}); use output.unit=auto.",
        )


def network_outputs(loss: str, spec: DataSpec, options: Mapping[str, Any] | None) -> int:
    """Outputs the network gives per example (per step, per pixel) for `loss` on `spec`."""
    options = output_options(options)
    if loss == "gaussian_nll" and fixed_variance(options) is None:
        return 2 * spec.num_outputs
    if loss == "mdn":
        return MixtureDensityNLL.outputs_needed(spec.num_outputs, int(options["components"]))
    return spec.num_outputs


def network_spec(spec: DataSpec, loss: str, options: Mapping[str, Any] | None) -> DataSpec:
    """The spec a model is built from: the data's, with as many outputs as the output unit needs."""
    outputs = network_outputs(loss, spec, options)
    return spec if outputs == spec.num_outputs else dataclasses.replace(spec, num_outputs=outputs)


def make_output_loss(name: str, spec: DataSpec, reconstruct: bool, options: Mapping[str, Any] | None) -> nn.Module:
    """The loss module for one of `OUTPUT_LOSSES`, or for `mse` on 0/1 targets (a sigmoid unit)."""
    options = output_options(options)
    sigmoid = spec.kind == "binary" and not reconstruct and options["unit"] != "linear"
    targets = spec.num_features if reconstruct else spec.num_outputs
    if name in ("mse", "sse"):
        return SquaredError(summed=name == "sse", sigmoid=sigmoid)
    if name == "gaussian_nll":
        return GaussianNLL(targets, fixed_variance(options))
    if name == "mdn":
        return MixtureDensityNLL(targets, int(options["components"]))
    if name == "dice":
        return SoftDiceLoss(float(options["smooth"]))
    if name == "wasserstein_dice":
        distances = options["class_distances"] if options["class_distances"] is not None else spec.class_distances
        return WassersteinDiceLoss(check_class_distances(distances, spec.num_outputs), float(options["smooth"]))
    raise ConfigError(f"loss={name!r} is not an output-unit loss; choose one of {', '.join(OUTPUT_LOSSES)}.")


def uses_output_loss(name: str, spec: DataSpec, reconstruct: bool, options: Mapping[str, Any] | None) -> bool:
    """Whether `make_output_loss` builds this loss (the new ones, and squared error on 0/1 targets)."""
    if name in OUTPUT_LOSSES:
        return True
    return name == "mse" and spec.kind == "binary" and not reconstruct and output_options(options)["unit"] != "linear"


@dataclass(frozen=True)
class Readout:
    """How the network's outputs are read as predictions, to count correct ones.

    `tolerance` None: a class is right when it is the arg-max (multiclass) or when the output unit
    says probability > 0.5 (binary). A number: an output is right when its value (probability,
    mean) is within `tolerance` of its target, and a prediction is right when all its outputs
    are: the 1986 criterion ("within 0.1 of the target"), for classes and regression alike.
    """

    kind: str
    accuracy: bool
    class_dim: int = -1  # 1 for per-pixel images (N, C, H, W)
    logits: bool = True  # binary: the output is a logit (0.5 <=> 0); False: it is the prediction itself
    tolerance: float | None = None
    predict: Any = None  # outputs -> values in the targets' space

    def count_correct(self, outputs: Tensor, targets: Tensor, members: bool = False) -> tuple[Tensor, int]:
        """Correct predictions in a batch and how many predictions there were; `members`: the
        outputs and targets of a population's members stacked on a first axis, counted per member."""
        lead = 1 if members else 0
        hits = self._hits(outputs, targets, lead)
        if members:
            hits = hits.reshape(hits.shape[0], -1)
            return hits.sum(dim=1), hits.shape[1]
        return hits.sum(), hits.numel()

    def _hits(self, outputs: Tensor, targets: Tensor, lead: int) -> Tensor:
        """Whether each prediction is right; `lead`: the axes in front of a run's (0, or 1 for members)."""
        front = targets.shape[:lead]
        if self.kind == "multiclass":
            class_dim = self.class_dim + lead if self.class_dim >= 0 else self.class_dim
            classes = outputs.shape[class_dim]
            if self.tolerance is None:
                predicted = outputs.argmax(class_dim)
                return predicted.reshape(*front, -1) == targets.reshape(*front, -1)
            probabilities = torch.softmax(outputs, dim=class_dim).movedim(class_dim, -1)
            one_hot = torch.nn.functional.one_hot(targets.long(), classes).reshape(probabilities.shape)
            return ((probabilities - one_hot).abs() < self.tolerance).all(-1)
        if self.tolerance is None:  # binary, at the 0.5 threshold
            predicted = outputs > 0 if self.logits else outputs > 0.5
            return predicted.reshape(targets.shape).to(targets.dtype) == targets
        values = self.predict(outputs).reshape(targets.shape)
        within = (values - targets).abs() < self.tolerance
        if self.kind == "regression" and targets.dim() > 1 + lead:  # a prediction is all its values
            within = within.flatten(1 + lead).all(-1)
        return within


def make_readout(loss_fn: nn.Module, spec: DataSpec, reconstruct: bool, tolerance: float | None) -> Readout:
    """The readout for this loss module on this data; accuracy is off for reconstructions, and for
    regression unless a tolerance says what a right value is."""
    predict = getattr(loss_fn, "predict", None)
    if predict is None:
        predict = torch.sigmoid if isinstance(loss_fn, nn.BCEWithLogitsLoss) else (lambda outputs: outputs)
    logits = not isinstance(loss_fn, (nn.MSELoss, nn.L1Loss, nn.HuberLoss)) and not (
        isinstance(loss_fn, SquaredError) and not loss_fn.sigmoid
    )
    classes = spec.kind in ("multiclass", "binary")
    accuracy = not reconstruct and (classes or tolerance is not None)
    return Readout(spec.kind, accuracy, 1 if spec.per_pixel else -1, logits, tolerance, predict)
