"""The LightningModule of a population: every member's step at once, every member's records apart.

Lightning runs its ordinary loop (automatic optimisation, one optimizer step per batch, one
epoch-interval scheduler, validation after every epoch), so the population's loop state after
epoch `e` is the loop state each member's standalone run has after epoch `e`; it is what goes into
the members' checkpoints. Inside each step, all members:

- the network runs once over (members, batch, ...) with each member's weights (`StackedNetwork`);
- each member's loss is its standalone loss (vmapped when the members' loss modules are equal,
  else each member's own module), plus its own L1/L2 penalty weights;
- a member whose loss is not finite is frozen at that step, before its update, as a standalone run
  stops there (`TrainingDiverged`); the record is kept on the device and read at the epoch's end;
- the returned loss is the sum over the members still training: each member's gradient is the
  gradient of its own loss, and only members still training are updated (each by its own torch
  optimizer, or all at once by `StackedOptimizer`: see `dlbench.population.optimizers`).

At each epoch's end every member gets the row its standalone `Task` would write (same metrics, same
float32 sums as `EpochTotals`), in its own `history` and loggers, and its own early-stopping and
checkpoint callbacks decide, through its `MemberTrainer` view, whether it stops and what it saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import Tensor, nn
from torch.func import vmap
from torch.optim.lr_scheduler import ReduceLROnPlateau

from dlbench.callbacks.pca_baseline import PCABaseline
from dlbench.callbacks.resume import set_random_state
from dlbench.callbacks.run_record import RunRecord
from dlbench.callbacks.weights import MaxNorm
from dlbench.population.checkpoints import MemberCheckpoints, TopOnes
from dlbench.population.layer_stats import MemberLayerStatistics, enabled_layer_stats
from dlbench.population.network import MemberDraws, StackedNetwork
from dlbench.population.optimizers import MEMBERS_OWN, MemberOptimizers, StackedOptimizer, StackedOptimizers, by_update
from dlbench.population.views import MemberTrainer
from dlbench.runtime.lightning import PlainHookName
from dlbench.tasks.epoch_totals import EpochTotals
from dlbench.tasks.task import TrainingDiverged
from dlbench.terminal import watching
from dlbench.training.initializers import is_weight

STAGES = ("train", "val", "test")  # keyed "<stage>_totals": nn.Module already has an attribute `train`


class MemberSchedulers:
    """What Lightning sees of the members' schedulers: one epoch-interval scheduler of the stacked
    optimizer, so the loops count scheduler steps as a standalone run's do; stepping it steps
    each training member's own scheduler (`PopulationModule.lr_scheduler_step`)."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def step(self, *args: Any, **kwargs: Any) -> None:  # the members' schedulers are stepped instead
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def batched_loss(loss_fn: nn.Module) -> Callable[[Tensor, Tensor], Tensor] | None:
    """The loss of each member for (members, batch, ...) outputs in one call (reduction 'none',
    then each member's mean), for the losses a Task makes; None for any other (vmapped instead)."""
    kind = type(loss_fn)
    if getattr(loss_fn, "reduction", None) != "mean" or getattr(loss_fn, "weight", None) is not None:
        return None
    if kind is nn.CrossEntropyLoss and loss_fn.ignore_index == -100:
        smoothing = loss_fn.label_smoothing

        def cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
            if outputs.dim() != 3 or targets.dim() != 2:  # (members, batch, classes) only
                return torch.func.vmap(loss_fn)(outputs, targets)
            flat = F.cross_entropy(
                outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), reduction="none", label_smoothing=smoothing
            )
            return flat.view(outputs.shape[0], -1).mean(1)

        return cross_entropy
    elementwise: dict[type, Callable[..., Tensor]] = {
        nn.BCEWithLogitsLoss: F.binary_cross_entropy_with_logits,
        nn.MSELoss: F.mse_loss,
        nn.L1Loss: F.l1_loss,
    }
    if kind is nn.BCEWithLogitsLoss and loss_fn.pos_weight is not None:
        return None
    if kind in elementwise:
        function = elementwise[kind]
        return lambda outputs, targets: function(outputs, targets, reduction="none").flatten(1).mean(1)
    if kind is nn.HuberLoss:
        delta = loss_fn.delta
        return lambda outputs, targets: F.huber_loss(outputs, targets, reduction="none", delta=delta).flatten(1).mean(1)
    return None


def _draws_in_forward(model: nn.Module) -> bool:
    """Whether the network draws random numbers in training (dropout, a denoising autoencoder)."""
    return getattr(model, "noise_std", 0) > 0 or any(
        isinstance(module, nn.modules.dropout._DropoutNd)
        and module.p > 0
        or (isinstance(module, nn.RNNBase) and module.dropout > 0)
        for module in model.modules()
    )


def _may_save(callback: ModelCheckpoint, row: dict[str, float]) -> bool:
    """Whether `callback.on_train_epoch_end` can save this epoch: it saves best (and last with it)
    only when the monitored value enters its top k (`check_monitor_top_k`: one of the populations'
    `save_top_k=1` checkpoints, or an improvement). When it cannot, the call changes nothing and
    is left out: on a tiny model, calling every member's callback every epoch would cost more
    than the epoch (the equivalence tests compare every member's files with its run alone's)."""
    if callback.save_last == "link" or callback.monitor not in row:
        return True
    if len(callback.best_k_models) < callback.save_top_k:
        return True
    current, kth = row[callback.monitor], float(callback.kth_value)
    return current < kth if callback.mode == "min" else current > kth


def run_record(member: Any) -> RunRecord | None:
    """The member's `RunRecord` (a part of its run guard), which writes its running summary.json."""
    parts = (part for callback in member.callbacks for part in [callback, *getattr(callback, "parts", [])])
    return next((part for part in parts if isinstance(part, RunRecord)), None)


def _loss_key(module: torch.nn.Module) -> tuple[Any, ...]:
    simple = (int, float, str, bool, type(None))
    return (type(module), tuple(sorted((k, v) for k, v in vars(module).items() if isinstance(v, simple))))


class PopulationModule(PlainHookName, pl.LightningModule):
    """Trains `members` (see `dlbench.population.members.Member`) as one; see the module docstring."""

    def __init__(self, members: list[Any]) -> None:
        super().__init__()
        self.members = members
        noise = [float(m.task.input_noise) for m in members]
        random = any(noise) or any(_draws_in_forward(m.task.model) for m in members)
        self.network = StackedNetwork([member.task.model for member in members], random=random)
        self.draws = MemberDraws([m.rng_state for m in members], noise) if random else None
        first = members[0].task
        self.spec, self.reconstruct, self.monitor = first.spec, first.reconstruct, first.monitor
        self._shared_loss = first.loss_fn if len({_loss_key(m.task.loss_fn) for m in members}) == 1 else None
        shared = self._shared_loss
        self._loss = (batched_loss(shared) or vmap(shared)) if shared is not None else None
        weights = [name for name, p in first.model.named_parameters() if is_weight(name, p)]
        self._weight_names = weights
        bounds = [next((c.max_norm for c in m.callbacks if isinstance(c, MaxNorm)), None) for m in members]
        self._max_norms = bounds if any(bound is not None for bound in bounds) else []
        self._weights = [self.network.names.index(name) for name in weights]
        # L1/L2 penalties per member (`penalty.l1`/`l2` are per-member keys, present or not): each
        # term with each member's weight, exactly 0 for a member without it (see `_penalty`)
        self.penalty_names = [
            name for name in ("l1", "l2") if any(name in (m.cfg.get("penalty") or {}) for m in members)
        ]
        lambdas = [[float((m.cfg.get("penalty") or {}).get(name, 0.0)) for m in members] for name in self.penalty_names]
        self._lambdas = [torch.tensor(values) for values in lambdas]
        # which members' own tasks have a penalty: only their rows have `data_loss` and `penalty`
        self._penalised = [bool(m.task.penalties) for m in members]
        self._unpenalised = torch.tensor([not flag for flag in self._penalised])
        means = ["loss", "data_loss", "penalty"] if self.penalty_names else ["loss"]
        self.readout = first.readout
        self.totals = nn.ModuleDict(
            {f"{stage}_totals": EpochTotals(means, self.readout.accuracy, len(members)) for stage in STAGES}
        )
        self.views: list[MemberTrainer] = []  # made when the fit starts
        self._shared: dict[str, Any] = {}  # the trainer's values the views share within an epoch's end
        self.store: MemberCheckpoints | None = None
        self.top_ones: TopOnes | None = None  # the members' checkpoint decisions, made when the fit starts
        self.stacked_optimizer: StackedOptimizer | StackedOptimizers | MemberOptimizers | None = None
        self.active = torch.ones(len(members), dtype=torch.bool)
        self._first_step = torch.full((len(members),), -1, dtype=torch.long)
        self._first_loss = torch.zeros(len(members))
        self._val_rows: list[dict[str, float]] = [{} for _ in members]
        self.test_rows: list[dict[str, float]] = [{} for _ in members]
        self._epoch_start = 0.0
        self._epoch_lrs: list[float] = []
        self._records: list[RunRecord | None] = []
        self._resuming = False
        self.random_state: dict[str, Any] = {}  # a resumed population's shared (numpy, Python, torch) state
        # members may have other scheduler classes, or none (`scheduler.*` is per member): Lightning
        # sees one epoch-interval scheduler, a plateau one (reading the monitor) if any member's is
        self.plateau = any(isinstance(member.scheduler, ReduceLROnPlateau) for member in members)
        self.layer_stats: MemberLayerStatistics | None = None  # `callbacks.layer_stats`, made when the fit starts
        self._row_callbacks: list[list[PCABaseline]] = [[] for _ in members]  # add to each member's row
        self._stats_hooks: list[Any] = []
        self._scores = "train_scores" in first.metrics  # pixel classification: iou and dice per member
        self._scores_device = torch.device("cpu")

    # -- one step -----------------------------------------------------------------------------
    def _losses(self, outputs: Tensor, targets: Tensor) -> Tensor:
        if self._loss is not None and self.network.mode != "loop":  # "loop": each member's own loss, exactly
            return self._loss(outputs, targets)
        return torch.stack([m.task.loss_fn(outputs[i], targets[i]) for i, m in enumerate(self.members)])

    def _penalty(self) -> Tensor | None:
        """Each member's L1/L2 term, as `Task._step` adds it (lambda x the sum over the weights).
        A member without a penalty gets exactly 0 (a `where`, not 0 x its term: that is NaN once a
        weight is infinite) and so exactly its data loss and its data loss's gradient; its rows
        leave out `data_loss` and `penalty` (`_own_rows`), as its run alone's have none."""
        if not self.penalty_names:
            return None
        stacked = list(self.network.stacked)
        total: Tensor | int = 0
        for name, lam in zip(self.penalty_names, self._lambdas, strict=True):
            term: Tensor | int = 0
            for index in self._weights:
                w = stacked[index]
                dims = tuple(range(1, w.dim()))
                term = term + (w.pow(2).sum(dim=dims) if name == "l2" else w.abs().sum(dim=dims))
            total = total + lam.to(w.device) * term
        if all(self._penalised):
            return total
        if self._unpenalised.device != total.device:  # moved once, not every step
            self._unpenalised = self._unpenalised.to(total.device)
        return torch.where(self._unpenalised, torch.zeros_like(total), total)

    def _own_rows(self, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        """The members' rows without `data_loss` and `penalty` for members whose run alone has no
        penalty (their `loss` is their data loss: the penalty added to it was exactly 0)."""
        if all(self._penalised):
            return rows
        extra = ("/data_loss", "/penalty")
        return [
            row if penalised else {key: value for key, value in row.items() if not key.endswith(extra)}
            for row, penalised in zip(rows, self._penalised, strict=True)
        ]

    def _as_own(self, member: int, row: Tensor) -> Tensor:
        """A member's row of sums ([loss, data_loss, penalty, correct, examples, predictions]) as its
        own task's: without the data_loss and penalty sums when it has no penalty."""
        if self._penalised[member] or not self.penalty_names:
            return row
        return torch.cat([row[:1], row[3:]])

    def _as_population(self, member: int, own: Tensor) -> Tensor:
        """The inverse of `_as_own`: a member without a penalty has its loss as its data loss, and 0 penalty."""
        if self._penalised[member] or not self.penalty_names:
            return own
        return torch.cat([own[:1], own[:1], own.new_zeros(1), own[1:]])

    def _step(self, stage: str, batch: tuple[Tensor, Tensor]) -> Tensor:
        inputs, targets = batch
        if self.reconstruct:
            targets = inputs
        training = stage == "train"
        active = self.active.tolist() if training and self.active.device.type == "cpu" else None
        outputs = self.network(inputs, self.draws if training else None, active)
        data_loss = self._losses(outputs, targets)
        penalty = self._penalty()
        loss = data_loss + penalty if penalty is not None else data_loss
        totals = self.totals[f"{stage}_totals"]
        values = torch.stack([loss, data_loss, penalty], dim=1) if penalty is not None else loss.unsqueeze(1)
        correct, predictions = (
            self.readout.count_correct(outputs.detach(), targets, members=True) if totals.accuracy else (None, 0)
        )
        totals.update(values, inputs.shape[1], correct, predictions)
        if self._scores:  # each member's pixel scores, on its own outputs, as its task counts them
            detached = outputs.detach()
            if self._scores_device != detached.device:  # the members' tasks were built on the CPU
                for member in self.members:
                    member.task.metrics.to(detached.device)
                self._scores_device = detached.device
            for index, member in enumerate(self.members):
                member.task.metrics[f"{stage}_scores"].update(detached[index], targets[index])
        return loss

    def _scored(self, stage: str, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        """Each member's row with its pixel classification scores (`iou`, `dice`), as `Task._compute`
        adds them: torchmetrics' own, in the member's task, over the epoch's pixels of its outputs."""
        if not self._scores:
            return rows
        for row, member in zip(rows, self.members, strict=True):
            scores = member.task.metrics[f"{stage}_scores"].take()
            row.update({f"{stage}/{name}": float(value) for name, value in scores.items()})
        return rows

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._step("train", batch)
        finite = torch.isfinite(loss.detach())
        newly = self.active & ~finite
        first = newly & (self._first_step < 0)
        self._first_step = torch.where(first, torch.full_like(self._first_step, self.global_step), self._first_step)
        self._first_loss = torch.where(first, loss.detach().float(), self._first_loss)
        self.active = self.active & finite
        self.stacked_optimizer.set_active(self.active)
        return torch.where(self.active, loss, torch.zeros_like(loss)).sum()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step("val", batch)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step("test", batch)

    def on_after_backward(self) -> None:
        self.network.gather_grads()
        if self.network.padded:  # members of other widths: the padding's gradients exactly zero
            self.network.mask_grads()
        if self.layer_stats is not None:
            self.layer_stats.after_backward(list(self.network.stacked))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.layer_stats is not None:
            self.layer_stats.batch_start(batch_idx)

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """`trainer.gradient_clip_val`: each member's own gradients clipped by torch's own function, as
        Lightning clips a run's (the global norm of a member's gradients, never of the population's)."""
        if not gradient_clip_val:
            return
        grads = list(zip(self.network.names, (p.grad for p in self.network.stacked), strict=True))
        for member, training in enumerate(self.active.tolist()):
            if not training:
                continue
            own = [
                SimpleNamespace(grad=self.network.own(member, name, grad[member]))
                for name, grad in grads
                if grad is not None
            ]
            if str(gradient_clip_algorithm) in ("value", "GradClipAlgorithmType.VALUE"):
                torch.nn.utils.clip_grad_value_(own, clip_value=gradient_clip_val)
            else:
                torch.nn.utils.clip_grad_norm_(own, gradient_clip_val)

    @torch.no_grad()
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """`regularizer=max_norm`: each member's `MaxNorm` after its step, on its slice of the weights."""
        if self.layer_stats is not None:
            self.layer_stats.measuring = False
        if not self._max_norms:
            return
        stacked = self.network.named_stacked()
        for member, training in enumerate(self.active.tolist()):
            bound = self._max_norms[member]
            if not training or bound is None:
                continue
            for name in self._weight_names:
                weight = self.network.own(member, name, stacked[name][member])  # its own units, not the padding
                weight.copy_(weight.renorm(2, 0, bound))

    # -- optimisation -------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        own = [member.optimizer for member in self.members]
        optimizer: StackedOptimizer | StackedOptimizers | MemberOptimizers
        by_class = by_update(own) if self.network.choose_mode(self.device) != "loop" else []
        if not by_class:
            models = [member.task.model for member in self.members]
            optimizer = MemberOptimizers(self.network.stacked, self.network.member_leaves(), models, own)
        elif len(by_class) == 1:  # tiny batched networks: one stacked update (see dlbench.population.optimizers)
            optimizer = StackedOptimizer(list(self.network.stacked), own)
        else:  # members of several optimizer classes: one stacked update per class
            optimizer = StackedOptimizers(list(self.network.stacked), own)
        optimizer.set_active(self.active)
        self.stacked_optimizer = optimizer
        self.store = MemberCheckpoints(self.network, optimizer, self.members)
        if all(member.scheduler is None for member in self.members):
            return optimizer
        scheduler = {"scheduler": MemberSchedulers(optimizer), "monitor": self.monitor, "interval": "epoch"}
        scheduler["reduce_on_plateau"] = self.plateau
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        active = self.active.tolist()
        for member, training in zip(self.members, active, strict=True):
            if member.scheduler is None or not training or member.stopped:
                continue
            if not isinstance(self.stacked_optimizer, MemberOptimizers):  # its steps are the stacked ones (torch warns)
                member.optimizer._opt_called = True
            if isinstance(member.scheduler, ReduceLROnPlateau):  # this epoch's row: the views publish lazily
                member.scheduler.step(member.task.history[-1][self.monitor])
            else:
                member.scheduler.step()

    # -- the members' view of the trainer -----------------------------------------------------
    def on_fit_start(self) -> None:
        self.views = [MemberTrainer(self.trainer, member, self._shared) for member in self.members]
        self._monitoring = [
            (
                [c for c in member.callbacks if isinstance(c, EarlyStopping)],
                [c for c in member.callbacks if isinstance(c, ModelCheckpoint)],
            )
            for member in self.members
        ]
        kept = [  # a member with two such callbacks keeps them on the callbacks (the general path)
            (member, checkpoints[0])
            for member, (_, checkpoints) in zip(self.members, self._monitoring, strict=True)
            if len(checkpoints) == 1 and TopOnes.applies(checkpoints[0])
        ]
        self.top_ones = self.store.top_ones = TopOnes(kept, self.store)
        self.active = self.active.to(self.device)
        self._first_step = self._first_step.to(self.device)
        self._first_loss = self._first_loss.to(self.device)
        self.network.train()
        self._start_layer_stats()
        self._row_callbacks = [[c for c in member.callbacks if isinstance(c, PCABaseline)] for member in self.members]
        for member, view, callbacks in zip(self.members, self.views, self._row_callbacks, strict=True):
            for callback in callbacks:  # each member's baseline on its own data
                callback.on_fit_start(view, member.task)
        for member, view in zip(self.members, self.views, strict=True):
            self.store.attach(member, view)
            for callback in member.callbacks:
                if isinstance(callback, (ModelCheckpoint, EarlyStopping)):
                    callback.setup(view, member.task, stage="fit")
                    callback.on_train_start(view, member.task)
        self._records = [run_record(member) for member in self.members]
        for record, member, view in zip(self._records, self.members, self.views, strict=True):
            if record is not None:  # summary.json says `running` from the start, as a run alone's
                record.on_train_start(view, member.task)

    def _start_layer_stats(self) -> None:
        """`callbacks.layer_stats`: the members' activations seen in the batched chain's steps, or
        through hooks on their own modules where each member runs its own ("loop")."""
        settings = enabled_layer_stats(self.members)
        if settings is None:
            return
        models = [member.task.model for member in self.members]
        self.layer_stats = MemberLayerStatistics(settings, models, self.network.names)
        if self.network.choose_mode(self.device) == "chain":
            self.network._chain.observe = self.layer_stats.observe
        else:  # vmap would hide each member's outputs: the members run their own modules ("loop")
            self.network.mode = "loop"
            self._stats_hooks = self.layer_stats.hooks(models)

    def on_fit_end(self) -> None:
        for handle in self._stats_hooks:
            handle.remove()
        self._stats_hooks = []
        if self.network._chain is not None:
            self.network._chain.observe = None
        self.layer_stats = None

    # -- resuming (a sweep run again: `dlbench.population.checkpoints.resume_members`) -----------
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Lightning restores the population's loops from a member's `last.ckpt`; everything of the
        members' own was given back to them before the population was built from them."""
        checkpoint["state_dict"] = self.state_dict()
        checkpoint["optimizer_states"] = [MEMBERS_OWN]
        checkpoint["callbacks"] = {}
        self._resuming = True

    def on_train_start(self) -> None:
        """What `ExactResume` does for a run alone when training resumes: the shared random state
        back, the plateau step Lightning skips after an epoch's end taken, and the epoch under way
        (its rates, start and sums, which its task held) continued."""
        if not self._resuming:
            return
        self._resuming = False
        if self.random_state:
            set_random_state(self.random_state)
        fit = self.trainer.fit_loop
        if fit.resumed_on_epoch_end and self.plateau:
            for member in self.members:
                if member.task.history and not member.stopped:
                    member.scheduler.step(torch.tensor(member.task.history[-1][self.monitor]))
        fit._restarting = False
        totals = self.totals["train_totals"]
        rows = torch.stack(
            [
                self._as_population(m, member.task.metrics["train_metrics"].totals)
                for m, member in enumerate(self.members)
            ]
        )
        totals.restore(rows)
        self._epoch_lrs = [float(getattr(m.task, "_epoch_lr", m.optimizer.param_groups[0]["lr"])) for m in self.members]
        self._epoch_start = self.members[0].task._epoch_start
        self.stacked_optimizer.refresh()

    # -- once per epoch -----------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        self._val_rows = [{} for _ in self.members]  # an epoch without validation has no val/ numbers
        self.stacked_optimizer.refresh()  # a member's scheduler may have changed its rate
        self._epoch_lrs = [float(m.optimizer.param_groups[0]["lr"]) for m in self.members]

    def epoch_in_progress(self) -> None:
        """Give each member's task what a run alone's task holds inside an epoch (the rate it trains
        at, when the epoch began, its training sums so far), so a checkpoint taken now resumes alone
        inside this epoch as a run alone's does (`dlbench.tasks.resume_state`)."""
        totals = self.totals["train_totals"].totals
        for index, member in enumerate(self.members):
            task = member.task
            if index < len(self._epoch_lrs):
                task._epoch_lr = self._epoch_lrs[index]
            task._epoch_start = self._epoch_start
            task._val_row = {}
            task.metrics["train_metrics"].restore(self._as_own(index, totals[index]))

    def on_validation_epoch_end(self) -> None:
        rows = self._own_rows(self._scored("val", self.totals["val_totals"].rows("val")))
        if self.trainer.sanity_checking:
            return
        self._val_rows = rows
        active = [row[self.monitor] for row, on in zip(rows, self.active.tolist(), strict=True) if on and row]
        if active:  # Lightning's own plateau check reads one number; the members' schedulers read their own
            self.trainer.callback_metrics[self.monitor] = torch.tensor(sum(active) / len(active))

    def on_validation_end(self) -> None:
        """`trainer.check_val_every_n_epoch` > 1: Lightning's early stopping and checkpoint callbacks
        decide at the end of a validation, not of the epoch (before its row is written); each
        member's decide then, through its view, on its own validation numbers."""
        trainer = self.trainer
        if trainer.sanity_checking or trainer.check_val_every_n_epoch == 1 or not self.views:
            return
        MemberTrainer.refresh(trainer, self._shared)
        active = self.active.tolist()
        for index, member in enumerate(self.members):
            if member.stopped or not active[index]:
                continue
            view, row = self.views[index], self._val_rows[index]
            stopping, checkpoints = self._monitoring[index]
            view.publish(
                {c.monitor: torch.tensor(row[c.monitor]) for c in (*stopping, *checkpoints) if c.monitor in row}
            )
            for callback in (*stopping, *checkpoints):
                callback.on_validation_end(view, member.task)
        self._shared.clear()

    def on_train_epoch_end(self) -> None:
        trainer = self.trainer
        epoch_time = time.perf_counter() - self._epoch_start
        train_rows = self._own_rows(self._scored("train", self.totals["train_totals"].rows("train")))
        active = self.active.tolist()
        first_steps, first_losses = self._first_step.tolist(), self._first_loss.tolist()
        epoch = trainer.current_epoch
        extras = self.layer_stats.rows(list(self.network.stacked)) if self.layer_stats is not None else None
        MemberTrainer.refresh(trainer, self._shared)
        first = next((c for checkpoints in self._monitoring for c in checkpoints[1]), None)
        saving = first is not None and not first._should_skip_saving_checkpoint(self.views[0])
        saving = saving and first._should_save_on_train_epoch_end(self.views[0])
        deciding: list[tuple[int, MemberTrainer, float, Callable[[], None]]] = []  # for TopOnes, all at once
        for index, member in enumerate(self.members):
            if member.stopped:
                continue
            if not active[index]:  # its loss stopped being finite in this epoch, at that step
                member.stopped, member.status = True, "diverged"
                diverged = TrainingDiverged(epoch, first_steps[index], first_losses[index])
                member.diverged = {"epoch": epoch, "step": diverged.step, "loss": diverged.loss}
                member.stop_reason, step = str(diverged), diverged.step
                member.final_epoch, member.final_step = epoch, step
                continue
            view = self.views[index]
            for callback in self._row_callbacks[index]:  # what its callbacks add to its run alone's row
                callback.on_train_epoch_end(view, member.task)
            row = member.task.record_epoch(
                epoch,
                train_rows[index],
                self._val_rows[index],
                self._epoch_lrs[index],
                epoch_time,
                view.loggers,
                extras[index] if extras is not None else None,
            )
            stopping, checkpoints = self._monitoring[index]
            monitored = [c.monitor for c in (*stopping, *checkpoints) if c.monitor in row]

            def publish(view: MemberTrainer = view, row: dict[str, float] = row, keys: list[str] = monitored) -> None:
                # the numbers the callbacks read, as `dlbench.runtime.lightning.publish` makes them (0-d float32)
                view.publish({key: torch.tensor(row[key]) for key in keys})

            if stopping:
                publish()
            for callback in stopping:
                callback.on_train_epoch_end(view, member.task)
            for callback in checkpoints:
                slot = self.top_ones.slots.get(id(callback))
                if slot is not None:
                    if saving and callback.monitor in row:
                        deciding.append((slot, view, row[callback.monitor], publish))
                elif _may_save(callback, row):
                    publish()
                    callback.on_train_epoch_end(view, member.task)
        self.top_ones.epoch_end(deciding, trainer.global_step)
        for index, member in enumerate(self.members):
            if member.stopped:  # before this epoch, or diverged in it
                continue
            view, checkpoints = self.views[index], self._monitoring[index][1]
            own_max = member.max_epochs  # a member of fewer epochs stops at its own max
            finished = own_max is not None and own_max > 0 and epoch + 1 >= own_max
            if finished or (view.should_stop and epoch + 1 >= (trainer.min_epochs or 0)):
                member.stopped = True
                member.final_epoch, member.final_step = epoch + 1, trainer.global_step
            for callback in checkpoints:  # last.ckpt: every epoch's, and its end of training's, as in its run alone
                if member.stopped:
                    self.store.last_at_end(member, view, callback)
                else:
                    self.store.last_due(member, view, callback, now=False)
        self.store.commit(trainer)
        for index, member in enumerate(self.members):  # the record on disk, as a run alone's
            record = self._records[index]
            if record is not None and active[index]:  # a member whose training ended: on disk now
                record.epoch_end(self.views[index], member.task, now=member.stopped)
        self._shared.clear()
        stopped = torch.tensor([m.stopped for m in self.members], device=self.active.device)
        done = sum(member.stopped for member in self.members)
        watching.set_label(f"population of {len(self.members)}" + (f", {done} done" if done else ""))  # the bar's
        self.active = self.active & ~stopped
        self.stacked_optimizer.set_active(self.active)
        if not any(not m.stopped for m in self.members):
            trainer.should_stop = True

    def on_train_end(self) -> None:
        """The members still training take their due last.ckpt: the run's final state, as
        `BufferedCheckpoint.on_train_end` takes a run alone's."""
        MemberTrainer.refresh(self.trainer, self._shared)
        for member, view in zip(self.members, self.views, strict=True):
            if not member.stopped:
                for callback in self._monitoring[member.index][1]:
                    self.store.last_due(member, view, callback, now=True, only_if_due=True)
        self.store.commit(self.trainer)
        self._shared.clear()

    def on_test_epoch_end(self) -> None:
        self.test_rows = self._own_rows(self._scored("test", self.totals["test_totals"].rows("test")))
