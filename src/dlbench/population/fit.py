"""One population from built members to written records: one Lightning fit, one test, M run directories.

`train_population(members)` trains the members together (`PopulationModule`, `PopulationData`)
under a Trainer made from their (shared) `trainer` config, tests each member on its best weights
as its standalone run tests its best checkpoint, and leaves in each member's run directory what
its standalone job leaves there: `metrics.csv` (epoch rows, then the test row), `checkpoints/`,
`pictures/`, `summary.json`, its W&B run, and the closing table on the terminal.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from dlbench.callbacks.dropout_ensemble import DropoutEnsemble
from dlbench.callbacks.graceful_stop import StopBetweenSteps, interrupt_reason
from dlbench.callbacks.pca_baseline import PCABaseline
from dlbench.callbacks.pictures import Pictures
from dlbench.loggers.protocol import start_loggers
from dlbench.loggers.wandb_logger import DlbenchWandbLogger
from dlbench.population.checkpoints import checkpoint_callback, resume_members
from dlbench.population.data import PopulationData
from dlbench.population.members import Member
from dlbench.population.module import PopulationModule, run_record
from dlbench.population.summary import PopulationOutcome, member_outcome
from dlbench.population.views import MemberTrainer
from dlbench.run.checkpoints import SafeCheckpointIO
from dlbench.run.execute import record
from dlbench.training.threads import threads_for_run

# The CSV logger writes metrics.csv into the run directory Hydra already made (as in dlbench.run.execute).
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")

MemberContext = Callable[[Member], Any]  # a context manager entered around each member's records


def make_trainer(members: list[Member]) -> pl.Trainer:
    """The population's Trainer, from the members' `trainer` config: no logger, checkpoint or
    summary of its own (each member has its own)."""
    from dlbench.callbacks.progress import population_bar

    bar = population_bar(members[0].cfg.trainer.get("enable_progress_bar"), len(members))
    epochs = [member.max_epochs for member in members]  # per member; the population runs to the longest
    # Ctrl-C and SIGTERM stop the population between two steps, as a run alone (its own StopBetweenSteps)
    trainer = instantiate(
        members[0].cfg.trainer,
        max_epochs=max(epochs) if all(isinstance(value, int) and value > 0 for value in epochs) else epochs[0],
        callbacks=[StopBetweenSteps(), *([bar] if bar is not None else [])],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=bar is not None,  # never Lightning's own default bar (None means on)
        _convert_="all",
    )
    trainer.strategy.checkpoint_io = SafeCheckpointIO()  # a resumed population reads a member's last.ckpt
    return trainer


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    import logging

    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _save_interrupted(module: PopulationModule, trainer: pl.Trainer) -> None:
    """What `RunGuard` does for a run alone on Ctrl-C or SIGTERM: each member still training writes
    `last.ckpt` with its state now, so `ckpt_path=` resumes it."""
    store = module.store
    if store is None or not module.views:
        return
    module.epoch_in_progress()  # a run alone's task holds its epoch so far: its checkpoint resumes inside it
    for member, view in zip(module.members, module.views, strict=True):
        callback = checkpoint_callback(member)
        if not member.stopped and callback is not None and callback.save_last:
            path = callback.last_model_path or callback.format_checkpoint_name({}, callback.CHECKPOINT_NAME_LAST)
            store.record(member, view, path)
            callback.last_model_path = path
    store.commit(trainer)


def _use_best_weights(module: PopulationModule) -> None:
    """Put each member's best weights into the stacked network (its last weights when it saved no
    best), as its standalone run's `trainer.test(ckpt_path="best")` loads its best checkpoint."""
    store = module.store
    for index, member in enumerate(module.members):
        callback = checkpoint_callback(member)
        path = getattr(callback, "best_model_path", "") if callback is not None else ""
        if not path:
            continue
        name = path.rsplit("/", 1)[-1]
        tensors = store.member_tensors(index, name)
        with torch.no_grad():
            network = module.network  # into the member's own part of its row (its padding stays zero)
            for key, stacked in network.named_stacked().items():
                network.own(index, key, stacked[index]).copy_(tensors[f"param:{key}"])
            for key, stacked in network.stacked_buffers().items():
                network.own(index, key, stacked[index]).copy_(tensors[f"buffer:{key}"])


def train_population(
    members: list[Member],
    started: float | None = None,
    member_context: MemberContext | None = None,
    pictures: bool = True,
    timings: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Train, test and record `members`; return their summaries (in member order).

    `member_context(member)` is entered around each member's records (its Hydra job);
    `pictures=False` leaves out the pictures each member's standalone run would draw; `timings`, when
    given, gets the wall and CPU seconds of the fit (`fit_s`, `fit_cpu_s`), for the benchmark."""
    started = time.perf_counter() if started is None else started
    resumed = resume_members(members)  # the sweep run again: each member from its own last.ckpt
    module = PopulationModule(members)
    module.random_state = resumed[1] if resumed is not None else {}
    data = PopulationData([member.datamodule for member in members], members)
    trainer = make_trainer(members)
    first = members[0]  # threads as each member's run alone takes them (decided on one member's step)
    threads_for_run(first.cfg.get("threads", "auto"), first.task.model, first.datamodule, trainer)
    interrupted: BaseException | None = None
    with _quiet_lightning():
        fit_started, fit_cpu = time.perf_counter(), time.process_time()
        try:
            trainer.fit(module, datamodule=data, ckpt_path=resumed[0] if resumed is not None else None)
        except (KeyboardInterrupt, SystemExit) as error:  # Ctrl-C, SIGTERM (Lightning ends the fit with SystemExit)
            interrupted = error
            _save_interrupted(module, trainer)
        if timings is not None:
            timings.update(fit_s=time.perf_counter() - fit_started, fit_cpu_s=time.process_time() - fit_cpu)
        if module.store is not None:
            module.store.flush(trainer)
        if module.top_ones is not None:  # the callbacks' best values, kept apart during the fit
            module.top_ones.sync()
        if interrupted is None:
            _use_best_weights(module)
            trainer.test(module, datamodule=data, verbose=False)
    outcome = PopulationOutcome(
        started=started,
        accelerator=type(trainer.accelerator).__name__,
        precision=str(trainer.precision),
        population_size=len(members),
    )
    summaries = []
    for index, member in enumerate(members):
        if not member.stopped:
            member.final_epoch, member.final_step = trainer.current_epoch, trainer.global_step
            if interrupted is not None:
                member.status = "interrupted"
                member.stop_reason = interrupt_reason(trainer, interrupted)  # as a run alone's: which signal, where
        if member.status != "diverged" and interrupted is None:
            row = {**module.test_rows[index], **_callbacks_test_metrics(module, member)}
            member.test_metrics = {key.split("/", 1)[1]: value for key, value in row.items()}
        with member_context(member) if member_context is not None else nullcontext():
            summaries.append(_record(member, module, trainer, outcome, started, pictures))
    if interrupted is not None:
        raise SystemExit(130) from None
    return summaries


def _callbacks_test_metrics(module: PopulationModule, member: Member) -> dict[str, float]:
    """What the member's callbacks log at its test (`test/pca_mse`, the dropout ensemble's numbers),
    measured on its own network with the weights it was tested with."""
    measuring = [c for c in member.callbacks if isinstance(c, (PCABaseline, DropoutEnsemble))]
    if not measuring:
        return {}
    module.network.load_member_into(member.index, member.task.model)
    metrics: dict[str, float] = {}
    for callback in measuring:
        if isinstance(callback, PCABaseline):
            metrics.update(callback.test_metrics())
        else:
            metrics.update(callback.test_metrics(member.task, member.datamodule))
    return metrics


def _record(
    member: Member,
    module: PopulationModule,
    trainer: pl.Trainer,
    outcome: PopulationOutcome,
    started: float,
    pictures: bool,
) -> dict[str, Any]:
    """Everything a standalone job writes after its fit, for one member."""
    module.network.load_member_into(member.index, member.task.model)  # its last weights, for pictures
    view = MemberTrainer(trainer, member)
    view._own["loggers"] = list(member.loggers)
    wandb = [logger for logger in member.loggers if isinstance(logger, DlbenchWandbLogger)]
    start_loggers(wandb, member.plan.config)
    for row in member.task.history:  # W&B runs are written at the end (one W&B run at a time per process)
        for logger in wandb:
            logger.log_metrics(row, step=int(row["epoch"]))
    view._own["current_epoch"] = member.final_epoch
    if pictures and member.status not in ("diverged", "interrupted"):  # a standalone run draws them in on_train_end
        for callback in member.callbacks:
            if isinstance(callback, Pictures):
                callback.on_fit_start(view, member.task)
                callback.on_train_end(view, member.task)
                callback.on_test_end(view, member.task)  # the weights' pictures: the member's tested (best) weights
    if member.test_metrics:
        test_row = {f"test/{key}": value for key, value in member.test_metrics.items()}
        test_row["epoch"] = member.final_epoch
        for logger in member.loggers:
            logger.log_metrics(test_row, step=member.final_step)
    for logger in member.loggers:
        if logger not in wandb:
            logger.finalize("success")
    running = run_record(member)
    if running is not None:
        running.on_train_end(view, member.task)  # the running summary.json's file is let go; the final one replaces it
    return record(member.plan, member_outcome(member, outcome), member.callbacks, member.loggers)
