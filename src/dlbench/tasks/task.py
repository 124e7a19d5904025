"""One LightningModule for every kind of data: the model, its loss, metrics and optimizer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from dlbench.data.spec import DataSpec
from dlbench.runtime.lightning import PlainHookName, publish
from dlbench.tasks import resume_state
from dlbench.tasks.epoch_totals import EpochTotals
from dlbench.tasks.losses import make_loss
from dlbench.tasks.output_units import make_readout
from dlbench.training.regularizers import fgsm

Penalty = Callable[[nn.Module], Tensor]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the run stops at once."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        # the message completes "Training diverged: ..." (the terminal) and is the summary's stop_reason
        super().__init__(f"the loss became {loss} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


class Task(PlainHookName, pl.LightningModule):
    """Trains `model` on the data described by `spec`.

    Metrics are accumulated over the epoch (one torchmetrics state, reduced across DDP ranks) and written to
    every logger once per epoch as one row, train and validation side by side, with the learning
    rate and the epoch time: `metrics.csv` then has one row per epoch and W&B one step per epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: DataSpec,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss: str = "auto",
        penalties: Sequence[tuple[str, Penalty]] = (),
        monitor: str = "val/loss",
        label_smoothing: float = 0.0,
        input_noise: float = 0.0,
        adversarial_epsilon: float = 0.0,
        output: dict[str, Any] | None = None,
        tolerance: float | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.reconstruct = bool(getattr(model, "reconstructs", False))
        # an optimizer that needs its own criterion (the perceptron rule) says so
        criterion = getattr(getattr(optimizer, "func", optimizer), "make_criterion", None)
        self.loss_fn = (
            criterion(model, spec) if criterion else make_loss(loss, spec, self.reconstruct, label_smoothing, output)
        )
        # how outputs count as right: the output unit's 0.5, or within `tolerance` of the target
        self.readout = make_readout(self.loss_fn, spec, self.reconstruct, tolerance)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.penalties = [*penalties, *(model.penalties() if hasattr(model, "penalties") else [])]  # e.g. a sparse code
        self.monitor = monitor
        self.input_noise, self.adversarial_epsilon = input_noise, adversarial_epsilon
        self.example_input_array = torch.zeros(2, *spec.input_shape)
        # keyed "<stage>_metrics": nn.Module already has an attribute called `train`
        self.metrics = nn.ModuleDict({f"{stage}_metrics": self._stage_metrics() for stage in ("train", "val", "test")})
        if spec.per_pixel and not self.reconstruct:  # mean IoU and dice of pixel classes, per epoch
            from dlbench.tasks.segmentation_scores import SegmentationScores

            self.metrics.update({f"{stage}_scores": SegmentationScores(spec) for stage in ("train", "val", "test")})
        self.history: list[dict[str, float]] = []
        self._val_row: dict[str, float] = {}
        self._epoch_start = 0.0
        # Numbers callbacks add to this epoch's row (e.g. per-layer statistics), so every logger
        # still gets one row per epoch; callbacks' on_train_epoch_end runs before the module's.
        self.epoch_extras: dict[str, float] = {}
        # None: check the loss every step on the CPU, once an epoch on an accelerator (see _stop_if_diverged)
        self.check_divergence_each_step: bool | None = None
        self._first_nonfinite: tuple[Tensor, Tensor] | None = None

    def _stage_metrics(self) -> EpochTotals:
        means = ["loss", "data_loss", "penalty"] if self.penalties else ["loss"]
        return EpochTotals(means, accuracy=self.readout.accuracy)

    def monitorable(self) -> list[str]:
        """The names this task puts into `trainer.callback_metrics` each epoch of a fit (what `monitor`,
        a checkpoint's or early stopping's, may name), from the same totals and scores `_compute` reads:
        val/ then train/."""
        names = []
        for stage in ("val", "train"):
            names += [f"{stage}/{name}" for name in self.metrics[f"{stage}_metrics"].names]
            if f"{stage}_scores" in self.metrics:
                names += [f"{stage}/{name}" for name in self.metrics[f"{stage}_scores"].keys()]
        return names

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    # -- one step -----------------------------------------------------------------------------
    def _step(self, stage: str, batch: tuple[Tensor, Tensor]) -> Tensor:
        inputs, targets = batch
        if self.reconstruct:
            targets = inputs
        if stage == "train" and self.input_noise > 0:  # regularizer=input_noise
            inputs = inputs + self.input_noise * torch.randn_like(inputs)
        outputs = self.model(inputs)
        data_loss = self.loss_fn(outputs, targets)
        if stage == "train" and self.adversarial_epsilon > 0:  # regularizer=adversarial
            adversarial = fgsm(self.model, self.loss_fn, inputs, targets, self.adversarial_epsilon)
            data_loss = 0.5 * (data_loss + self.loss_fn(self.model(adversarial), targets))
        loss = data_loss
        penalty = sum(term(self.model) for _, term in self.penalties) if self.penalties else None
        if penalty is not None:
            loss = data_loss + penalty
        if stage == "train":
            self._stop_if_diverged(loss)
        metrics = self.metrics[f"{stage}_metrics"]
        values = torch.stack([loss, data_loss, penalty]) if penalty is not None else loss.reshape(1)
        correct, predictions = self.readout.count_correct(outputs.detach(), targets) if metrics.accuracy else (None, 0)
        metrics.update(values, inputs.shape[0], correct, predictions)
        if f"{stage}_scores" in self.metrics:
            self.metrics[f"{stage}_scores"].update(outputs.detach(), targets)
        return loss

    def _stop_if_diverged(self, loss: Tensor) -> None:
        """Raise `TrainingDiverged` when the training loss is NaN or infinite on any process.

        Under DDP the loss is averaged over the processes first (one scalar all-reduce per step),
        so every process stops at the same step: a process that stopped alone would break the
        others' next gradient all-reduce (gloo: "Connection closed by peer", the job *failed*; a
        backend that waits instead would hang until the process group times out).

        Asking whether a tensor is finite makes the host wait for the device to get there. On the
        CPU that costs nothing and the check is made every step; on a GPU it would stall every step,
        so there the first non-finite step is kept on the device and read once at the end of the
        epoch's training, before validation and before anything is saved (`_raise_if_diverged`):
        the step and loss reported are the same, the run stops up to an epoch later.
        """
        value = loss.detach()
        trainer = self._trainer  # None when a step is taken by hand, outside a Trainer
        if trainer is not None and trainer.world_size > 1:
            value = trainer.strategy.reduce(value.clone(), reduce_op="mean")
        each_step = self.check_divergence_each_step
        if each_step or (each_step is None and value.device.type == "cpu"):
            if not torch.isfinite(value):
                raise TrainingDiverged(self.current_epoch, self.global_step, float(value))
            return
        # The first bad step (-1: none yet) and its loss, made on the device by fills, never copied
        # from the host; int64 and float32, which every accelerator has (Apple's MPS has no float64).
        if self._first_nonfinite is None or self._first_nonfinite[0].device != value.device:
            self._first_nonfinite = (
                torch.full((), -1, dtype=torch.long, device=value.device),
                torch.zeros((), device=value.device),
            )
        first_step, first_loss = self._first_nonfinite
        take = ~torch.isfinite(value) & (first_step < 0)
        step = torch.full((), self.global_step, dtype=torch.long, device=value.device)
        self._first_nonfinite = (torch.where(take, step, first_step), torch.where(take, value.float(), first_loss))

    def _raise_if_diverged(self) -> None:
        """Read the non-finite step kept on the device (one wait), and stop if there was one."""
        if self._first_nonfinite is None:
            return
        step, loss = self._first_nonfinite
        if int(step) >= 0:
            raise TrainingDiverged(self.current_epoch, int(step), float(loss))

    def on_fit_start(self) -> None:  # each fit (the finders' trial fits too) starts with no record
        self._first_nonfinite = None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._first_nonfinite is not None and batch_idx + 1 >= self.trainer.num_training_batches:
            self._raise_if_diverged()

    def on_validation_start(self) -> None:
        if self.trainer.state.fn == "fit":  # before every validation of a fit, also one inside an epoch
            self._raise_if_diverged()

    def on_train_end(self) -> None:  # training stopped inside an epoch (max_steps, max_time)
        self._raise_if_diverged()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step("train", batch)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step("val", batch)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step("test", batch)

    # -- once per epoch -----------------------------------------------------------------------
    def _compute(self, stage: str) -> dict[str, float]:
        metrics = self.metrics[f"{stage}_metrics"]
        values = metrics.compute()
        metrics.reset()
        if f"{stage}_scores" in self.metrics:
            values.update(self.metrics[f"{stage}_scores"].take())
        return {f"{stage}/{name}": float(value) for name, value in values.items()}

    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        # the rate this epoch trains at: Lightning steps epoch schedulers before on_train_epoch_end
        self._epoch_lr = float(self.trainer.optimizers[0].param_groups[0]["lr"])

    def on_validation_epoch_end(self) -> None:
        row = self._compute("val")
        if self.trainer.sanity_checking:
            return
        self._val_row = row
        publish(self.trainer, row)

    def on_train_epoch_end(self) -> None:
        train_row, val_row, self._val_row = self._compute("train"), self._val_row, {}
        seconds = time.perf_counter() - self._epoch_start
        row = self.record_epoch(self.current_epoch, train_row, val_row, self._epoch_lr, seconds, self.loggers)
        publish(self.trainer, {k: v for k, v in row.items() if k.startswith("train/")})

    def record_epoch(
        self,
        epoch: int,
        train_row: dict[str, float],
        val_row: dict[str, float],
        lr: float,
        seconds: float,
        loggers: Any,
        extras: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """The epoch's row (its sums, the rate it trained at, its time, what callbacks added to
        `epoch_extras`), kept in `history` and given to `loggers`: the one path a run alone and a
        population's member (`dlbench.population.module`, with the member's own loggers) take."""
        row = {"epoch": float(epoch), **train_row, **val_row, "lr": lr, "time/epoch_s": seconds}
        if extras:
            row.update(extras)
        row.update(self.epoch_extras)
        self.epoch_extras = {}
        self.history.append(row)
        for logger in loggers:
            logger.log_metrics(row, step=epoch)
        return row

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._compute("test"))

    # -- resuming (what a checkpoint holds of the task: see dlbench.tasks.resume_state) ---------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if resume_state.KEY not in checkpoint:  # present: a second checkpoint of the same moment
            checkpoint[resume_state.KEY] = resume_state.task_state(self)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self._trainer is not None and self.trainer.state.fn == "fit":  # not the best checkpoint restored to test
            resume_state.restore_task_state(self, checkpoint.get(resume_state.KEY))

    # -- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }
