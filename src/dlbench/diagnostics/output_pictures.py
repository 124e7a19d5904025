"""The `fit` and `segmentation` pictures of the Pictures callback: what the output unit predicts.

`fit`: a model with one input and one regression target, over its training points (the mean of
MSE, the +-2 sigma band of a Gaussian output, the conditional density of a mixture density
network). `segmentation`: validation images, their true masks and the predicted masks.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from torch import Tensor

from dlbench.diagnostics import output_drawing


def collect(loader: Any, limit: int) -> tuple[Tensor, Tensor]:
    """Up to `limit` (inputs, targets) from a loader of (x, y) batches."""
    inputs, targets, seen = [], [], 0
    for x, y in loader:
        inputs.append(x)
        targets.append(y)
        seen += len(x)
        if seen >= limit:
            break
    return torch.cat(inputs)[:limit], torch.cat(targets)[:limit]


def why_not(name: str, pl_module: Any) -> str | None:
    """None when picture `name` can be drawn for this model and data, else the reason."""
    spec = getattr(pl_module, "spec", None)
    if name == "fit":
        one_d = spec is not None and tuple(spec.input_shape) == (1,) and spec.kind == "regression"
        if not one_d or spec.num_outputs != 1 or getattr(pl_module, "reconstruct", False):
            return "a fit picture needs one input and one regression target, e.g. dataset=inverse_sine"
    if name == "segmentation" and (spec is None or not spec.per_pixel or getattr(pl_module, "reconstruct", False)):
        return "a segmentation picture needs a class per pixel, e.g. dataset=shapes model=encoder_decoder"
    return None


def _examples(trainer: pl.Trainer, split: str, limit: int) -> tuple[Any, Any] | None:
    if trainer.datamodule is None:
        return None
    return collect(getattr(trainer.datamodule, f"{split}_dataloader")(), limit)


def output_picture(name: str, trainer: pl.Trainer, pl_module: Any, epochs_done: int) -> Figure | None:
    model, spec = pl_module.model, pl_module.spec
    device = pl_module.device
    what = f"{type(model).__name__} with {type(pl_module.loss_fn).__name__} on {spec.name} after {epochs_done} epochs"
    if name == "fit":
        examples = _examples(trainer, "train", 2000)
        if examples is None:
            return None
        title = f"fit: {what}"

        def network(x: Any) -> Any:
            return model(x.to(device)).cpu()

        return output_drawing.regression_fits(
            examples[0].cpu(),
            examples[1].cpu(),
            [(type(pl_module.loss_fn).__name__, network, pl_module.loss_fn)],
            title,
        )
    examples = _examples(trainer, "val", 8)
    if examples is None:
        return None
    images, masks = examples
    outputs = model(images.to(device)).cpu()
    predicted = (outputs > 0).long() if outputs.shape[1] == 1 else outputs.argmax(1)
    classes = 2 if spec.kind == "binary" else spec.num_outputs
    title = f"segmentation: {what}"
    return output_drawing.segmentations(images.cpu(), masks.cpu(), predicted, classes, title)
