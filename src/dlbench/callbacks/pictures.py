"""The `Pictures` callback: what a run looks like from inside, as PNG files in the run directory.

At the end of training (and every N epochs when asked) it draws whichever of these apply:
training curves, the decision surface of a model on 2-D data with the training points, the
first-layer filters of a convolutional model, the hidden-unit activation matrix over a batch,
and an autoencoder's reconstructions beside its inputs. Each picture is also handed to the
run's loggers (W&B and TensorBoard images, MLflow artifacts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from dlbench.callbacks.layer_stats import find_activations
from dlbench.diagnostics import drawing
from dlbench.diagnostics.output_pictures import collect, output_picture

log = logging.getLogger(__name__)

PICTURES = ("curves", "decision_surface", "filters", "activations", "reconstructions", "fit", "segmentation")


def network_of(pl_module: nn.Module) -> nn.Module:
    return getattr(pl_module, "model", pl_module)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    return None


class Pictures(pl.Callback):
    """Draws the pictures of a run into `dirpath`.

    Args:
        dirpath: where the PNG files go (the run directory's `pictures/`).
        draw: "auto" draws every picture that applies to this model and data and skips the others
            silently; a list draws those named, and for one that does not apply (a decision surface
            of 3-D data) says so in one sentence and goes on without it.
        every_n_epochs: 0 draws at the end of training only; N > 0 also every N epochs, into
            files named `<picture>_epoch<NNN>.png`.
        max_examples: examples in the activation matrix and the decision surface's points.
        enabled: false turns the callback off.
    """

    def __init__(
        self,
        dirpath: str | Path,
        draw: str | Sequence[str] = "auto",
        every_n_epochs: int = 0,
        max_examples: int = 64,
        resolution: int = 200,
        enabled: bool = True,
        tested_weights: bool = False,
    ) -> None:
        """`tested_weights`: the pictures of the weights (decision surface, filters, activations, ...)
        are drawn after the test, with the weights it evaluated (the best checkpoint), so they show
        the network the summary's test metrics describe; the curves are drawn when training ends."""
        explicit = draw != "auto"
        names = list(PICTURES) if not explicit else [draw] if isinstance(draw, str) else list(draw)
        self.dirpath = Path(dirpath)
        self.names, self.explicit = names, explicit
        self.every_n_epochs = every_n_epochs
        self.max_examples = max_examples
        self.resolution = resolution
        self.enabled = enabled
        self.tested_weights = tested_weights
        self._weights_pending = self._drawing_tested = False
        self.active: list[str] = []
        self._epochs_done = 0
        self.written: list[Path] = []

    # -- which pictures apply -----------------------------------------------------------------
    def why_not(self, name: str, pl_module: pl.LightningModule) -> str | None:
        """None when picture `name` can be drawn for this model and data, else the reason."""
        model = network_of(pl_module)
        spec = getattr(pl_module, "spec", None)
        if name == "decision_surface":
            shape = tuple(spec.input_shape) if spec is not None else None
            if shape != (2,):
                return (
                    f"a decision surface needs 2-D inputs, but this data has input shape {shape}; "
                    "use a 2-D dataset such as dataset=moons"
                )
        if name == "filters" and first_conv(model) is None:
            return f"model {type(model).__name__} has no nn.Conv2d layer, so it has no filters to show"
        if name == "activations" and not find_activations(model):
            return f"model {type(model).__name__} has no activation modules (nn.ReLU, nn.Tanh, ...) to record"
        if name == "reconstructions" and not getattr(model, "reconstructs", False):
            name = type(model).__name__
            return f"model {name} is not an autoencoder (reconstructs=True), so there is nothing to reconstruct"
        if name in ("fit", "segmentation"):  # what an output unit predicts (dlbench.diagnostics.output_drawing)
            from dlbench.diagnostics.output_pictures import why_not

            return why_not(name, pl_module)
        return None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.active = []
        if not self.enabled:
            return
        for name in self.names:
            reason = self.why_not(name, pl_module)
            if reason is None:
                self.active.append(name)
            elif self.explicit and trainer.is_global_zero:
                log.warning("Skipping the %s picture: %s.", name, reason)

    # -- when ---------------------------------------------------------------------------------
    # A snapshot "after epoch e" is drawn when epoch e + 1 starts (or training ends): by then the
    # task has written epoch e's row, so the curves include it; the weights are the same.
    def _due(self, epochs_done: int) -> bool:
        n = self.every_n_epochs
        return bool(n) and epochs_done > 0 and epochs_done % n == 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._due(trainer.current_epoch):
            self.draw_all(trainer, pl_module, trainer.current_epoch, suffix=f"_epoch{trainer.current_epoch - 1:03d}")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        done = trainer.current_epoch
        if self._due(done):
            self.draw_all(trainer, pl_module, done, suffix=f"_epoch{done - 1:03d}")
        if self.tested_weights and any(name != "curves" for name in self.active):
            self._weights_pending = True  # drawn in on_test_end, with the tested weights
            self.draw_all(trainer, pl_module, done, only=("curves",))
            return
        self.draw_all(trainer, pl_module, done)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._weights_pending:
            self._weights_pending, self._drawing_tested = False, True
            try:
                self.draw_all(trainer, pl_module, self._epochs_done, skip=("curves",))
            finally:
                self._drawing_tested = False

    # -- drawing ------------------------------------------------------------------------------
    def draw_all(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        epochs_done: int,
        suffix: str = "",
        only: Sequence[str] | None = None,
        skip: Sequence[str] = (),
    ) -> list[Path]:
        if not trainer.is_global_zero or not self.active:
            return []
        painters: dict[str, Callable[[pl.Trainer, pl.LightningModule], Figure | None]] = {
            "curves": self.curves,
            "decision_surface": self.decision_surface,
            "filters": self.filters,
            "activations": self.activations,
            "reconstructions": self.reconstructions,
            "fit": lambda trainer, module: output_picture("fit", trainer, module, self._epochs_done),
            "segmentation": lambda trainer, module: output_picture("segmentation", trainer, module, self._epochs_done),
        }
        self._epochs_done = epochs_done
        written = []
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                for name in self.active:
                    if (only is not None and name not in only) or name in skip:
                        continue
                    figure = painters[name](trainer, pl_module)
                    if figure is None:
                        continue
                    path = drawing.save(figure, self.dirpath / f"{name}{suffix}.png")
                    written.append(path)
                    self.log_image(trainer, name, path, epochs_done - 1)
        finally:
            pl_module.train(was_training)
        self.written.extend(written)
        return written

    def log_image(self, trainer: pl.Trainer, name: str, path: Path, epoch: int) -> None:
        from dlbench.loggers.protocol import log_picture

        log_picture(trainer.loggers, f"pictures/{name}", path, max(epoch, 0))

    def _examples(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str, limit: int
    ) -> tuple[Tensor, Tensor] | None:
        datamodule = trainer.datamodule
        if datamodule is None:
            return None
        loader = getattr(datamodule, f"{split}_dataloader")()
        inputs, targets = collect(loader, limit)
        return inputs.to(pl_module.device), targets

    def curves(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Figure | None:
        history = getattr(pl_module, "history", None)
        if not history:
            return None
        spec = getattr(pl_module, "spec", None)
        return drawing.training_curves(
            history, f"training curves: {type(network_of(pl_module)).__name__} on {getattr(spec, 'name', 'data')}"
        )

    def decision_surface(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Figure | None:
        examples = self._examples(trainer, pl_module, "train", 2000)
        if examples is None:
            return None
        spec = pl_module.spec
        model = network_of(pl_module)
        dtype = next(model.parameters()).dtype

        def predict(grid: Tensor) -> Tensor:
            return torch.cat([model(part.to(pl_module.device, dtype)) for part in grid.split(8192)])

        weights = "the tested (best) weights" if self._drawing_tested else f"after {self._epochs_done} epochs"
        title = f"decision surface: {type(model).__name__} on {spec.name}, {weights}"
        return drawing.decision_surface(
            predict, examples[0], examples[1], spec.kind, spec.num_outputs, self.resolution, title
        )

    def filters(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Figure | None:
        name, conv = first_conv(network_of(pl_module))
        return drawing.filters(conv.weight, name)

    def activations(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Figure | None:
        examples = self._examples(trainer, pl_module, "val", self.max_examples)
        if examples is None:
            return None
        model = network_of(pl_module)
        recorded: dict[str, Tensor] = {}
        handles = [
            module.register_forward_hook(
                lambda m, i, o, name=name: recorded.setdefault(name, o) if isinstance(o, Tensor) else None
            )
            for name, module in find_activations(model).items()
        ]
        try:
            model(examples[0])
        finally:
            for handle in handles:
                handle.remove()
        return drawing.activation_matrices(recorded) if recorded else None

    def reconstructions(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Figure | None:
        examples = self._examples(trainer, pl_module, "val", 8)
        if examples is None:
            return None
        inputs = examples[0]
        return drawing.reconstructions(inputs, network_of(pl_module)(inputs))
