"""Contract tests for dlbench.runtime: each patch leans on one thing Hydra or Lightning does not
promise; these fail loudly when an upgrade changes that thing, instead of the patch silently
doing something else. And each patch can be switched off (DLBENCH_RUNTIME_OFF)."""

from __future__ import annotations

import copy
import inspect
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from dlbench.runtime import PATCHES, enabled


# -- the switch ------------------------------------------------------------------------------------
def test_every_patch_is_on_unless_named_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DLBENCH_RUNTIME_OFF", raising=False)
    assert all(enabled(name) for name in PATCHES)
    monkeypatch.setenv("DLBENCH_RUNTIME_OFF", "publish, config_store")
    assert not enabled("publish") and not enabled("config_store") and enabled("hook_name")
    monkeypatch.setenv("DLBENCH_RUNTIME_OFF", "all")
    assert not any(enabled(name) for name in PATCHES)


# -- Hydra (runtime/hydra.py) ------------------------------------------------------------------
def test_hydras_config_store_hands_out_copies_so_sharing_the_store_is_safe() -> None:
    """share_config_store makes a deep copy of the store the store itself; that is safe only
    because ConfigStore.load copies every node it returns."""
    from hydra.core.config_store import ConfigStore

    from dlbench.runtime.hydra import share_config_store

    share_config_store()
    store = ConfigStore.instance()
    assert copy.deepcopy(store) is store
    store.store(name="dlbench_contract", node={"a": 1}, group="dlbench_contract_group")
    loaded = store.load("dlbench_contract_group/dlbench_contract.yaml")
    loaded.node.a = 2
    assert store.load("dlbench_contract_group/dlbench_contract.yaml").node.a == 1


def test_hydras_private_methods_keep_the_signatures_the_patches_wrap() -> None:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.plugins.sweeper import Sweeper

    options = list(inspect.signature(ConfigLoaderImpl.get_group_options).parameters)
    assert options == ["self", "group_name", "results_filter", "config_name", "overrides"]
    assert list(inspect.signature(ConfigLoaderImpl.load_sweep_config).parameters) == [
        "self",
        "master_config",
        "sweep_overrides",
    ]
    assert list(inspect.signature(Sweeper.validate_batch_is_legal).parameters) == ["self", "batch"]


def test_multirun_jobs_get_the_config_that_cfg_job_composes(tmp_path, run_cli) -> None:
    """reuse_checked_sweep_configs hands the launcher the config the sweeper's check composed:
    every job must still run exactly the config `--cfg job` shows for its overrides."""
    import yaml

    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "optimizer.lr=0.1,0.01",
        "model.hidden=[4]",
        "trainer.max_epochs=1",
        "logger=[]",
        "callbacks.pictures.enabled=false",
        "test=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for job, lr in ((0, "0.1"), (1, "0.01")):
        shown = run_cli(
            f"optimizer.lr={lr}",
            "model.hidden=[4]",
            "trainer.max_epochs=1",
            "logger=[]",
            "callbacks.pictures.enabled=false",
            "test=false",
            "--cfg",
            "job",
        )
        ran = yaml.safe_load((sweep / str(job) / ".hydra" / "config.yaml").read_text())
        expected = yaml.safe_load(shown.stdout)
        for key in ("optimizer", "model", "trainer", "dataset", "callbacks"):
            assert ran[key] == expected[key], (job, key)


# -- Lightning (runtime/lightning.py) ----------------------------------------------------------
def _task() -> pl.LightningModule:
    from dlbench.data.spec import DataSpec
    from dlbench.tasks import Task

    return Task(nn.Linear(4, 3), DataSpec("table", (4,), 3, "multiclass"), optimizer=partial(torch.optim.SGD, lr=0.1))


def test_lightning_still_names_the_running_hook_on_the_module() -> None:
    """PlainHookName assumes Lightning records the hook being called as `_current_fx_name` on the
    module while it runs: a real fit reads it from inside each hook."""
    seen: dict[str, str | None] = {}

    class Probe(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 1)

        def training_step(self, batch, batch_index):
            seen["training_step"] = self._current_fx_name
            return self.layer(batch[0]).sum()

        def on_train_epoch_end(self) -> None:
            seen["on_train_epoch_end"] = self._current_fx_name

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.fit(Probe(), data)
    assert seen == {"training_step": "training_step", "on_train_epoch_end": "on_train_epoch_end"}


def test_the_task_still_registers_what_is_assigned_to_it_and_keeps_the_hook_name_plain() -> None:
    """The shortcut skips nn.Module's bookkeeping for one name only: parameters and submodules
    assigned later are still registered."""
    task = _task()
    task.probe = nn.Linear(3, 2)
    task.scale = nn.Parameter(torch.ones(1))
    task._current_fx_name = "training_step"
    assert "probe.weight" in task.state_dict() and "scale" in dict(task.named_parameters())
    assert task._current_fx_name == "training_step" and "_current_fx_name" not in task._modules


def test_callback_metrics_is_the_dict_that_checkpoints_and_early_stopping_read() -> None:
    """publish writes into `trainer.callback_metrics`; that must be a plain dict the callbacks read."""
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert isinstance(trainer.callback_metrics, dict)
    trainer.callback_metrics["val/loss"] = torch.tensor(0.25)
    assert trainer.callback_metrics["val/loss"] == 0.25, "the property returns the same dict each time"
    for callback in (EarlyStopping, ModelCheckpoint):
        assert "callback_metrics" in inspect.getsource(callback)


@pytest.mark.parametrize("off", ["publish", "hook_name"])  # progress_state: its own test (checkpoints, not rows)
def test_a_run_gives_the_same_numbers_with_each_patch_off(off: str, make_cfg, monkeypatch, tmp_path) -> None:
    """Switching a patch off takes Lightning's own path: the same history, to the last digit."""
    import json

    from dlbench.run import train
    from dlbench.runtime import lightning

    histories = {}
    for name in ("on", "off"):
        if name == "off":
            monkeypatch.setenv("DLBENCH_RUNTIME_OFF", off)
            monkeypatch.setattr(lightning, "_PLAIN_HOOK_NAME", enabled("hook_name"))  # read once, at import
        run_dir = tmp_path / name
        train(make_cfg("trainer.max_epochs=3", "logger=[]", "callbacks.pictures.enabled=false", output_dir=run_dir))
        rows = json.loads((run_dir / "summary.json").read_text())["history"]
        histories[name] = [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]
    assert histories["on"] == histories["off"]


# -- Lightning and torch privates a population still drives (population/checkpoints.py, module.py) -
# A member's ModelCheckpoint is the real callback, driven on the population's Trainer with its saves
# routed to the member's files (`MemberCheckpoints.attach`, `TopOnes`). These tests exercise each
# private the population reads, calls or replaces, so a Lightning or torch upgrade that changes one
# fails here, by name, instead of leaving members with wrong checkpoints.
class _Probe(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_index):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_index):
        self.log("val/loss", self.layer(batch[0]).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit_with(callback: pl.Callback, tmp_path, epochs: int = 2) -> pl.Trainer:
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=2)
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=False,
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(_Probe(), data, data)
    return trainer


def test_model_checkpoint_still_saves_and_removes_through_the_methods_a_population_replaces(tmp_path) -> None:
    """`MemberCheckpoints.attach` replaces `_save_checkpoint(trainer, filepath)`,
    `_remove_checkpoint(trainer, filepath)` and `file_exists(filepath, trainer)` on the instance and
    sets `_last_global_step_saved`: Lightning must still save best and last through them, ask before
    naming a file, and skip a second save of the same step by that attribute."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    callback = ModelCheckpoint(dirpath=tmp_path / "ck", filename="best", monitor="val/loss", save_last=True)
    calls: list[tuple[str, str]] = []

    def save(trainer: pl.Trainer, filepath: str) -> None:
        calls.append(("save", Path(filepath).name))
        callback._last_global_step_saved = trainer.global_step

    callback._save_checkpoint = save
    callback._remove_checkpoint = lambda trainer, filepath: calls.append(("remove", Path(filepath).name))
    callback.file_exists = lambda filepath, trainer: calls.append(("exists", Path(filepath).name)) or False
    trainer = _fit_with(callback, tmp_path)
    assert ("save", "best.ckpt") in calls and ("save", "last.ckpt") in calls, calls
    assert ("exists", "best.ckpt") in calls, calls
    assert not (tmp_path / "ck").exists() or not list((tmp_path / "ck").iterdir()), "Lightning wrote a file itself"
    assert callback._last_global_step_saved == trainer.global_step
    assert callback._should_skip_saving_checkpoint(trainer), "a step already saved is saved again"
    assert callback.best_model_path.endswith("best.ckpt") and callback.last_model_path.endswith("last.ckpt")


def test_model_checkpoint_still_has_the_steps_a_population_calls_for_one_kept_checkpoint(tmp_path) -> None:
    """`TopOnes` calls `_monitor_candidates(trainer)`, `_update_best_and_save(current, trainer,
    candidates)` and `_save_last_checkpoint(trainer, candidates)` for the first save of each file,
    reads `_every_n_epochs`, `_every_n_train_steps` and `_train_time_interval` to decide that it
    applies, and `_should_save_on_train_epoch_end(trainer)` (which reads the trainer's
    `_val_check_time_interval`) to know when a member saves."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    callback = ModelCheckpoint(dirpath=tmp_path / "ck", filename="best", monitor="val/loss", save_last=True)
    trainer = _fit_with(callback, tmp_path, epochs=1)
    saved: list[str] = []
    callback._save_checkpoint = lambda trainer, filepath: saved.append(Path(filepath).name)
    candidates = callback._monitor_candidates(trainer)
    assert "val/loss" in candidates and "epoch" in candidates and "step" in candidates
    callback.best_k_models.clear()
    better = torch.tensor(-1.0)
    callback._update_best_and_save(better, trainer, {**candidates, "val/loss": better})
    assert saved[-1].startswith("best") and callback.best_model_score == better
    callback._save_last_checkpoint(trainer, candidates)
    assert saved[-1] == "last.ckpt"
    assert (callback._every_n_epochs, callback._every_n_train_steps, callback._train_time_interval) == (1, 0, None)
    spaced = ModelCheckpoint(every_n_epochs=3, every_n_train_steps=0)
    assert (spaced._every_n_epochs, spaced._every_n_train_steps) == (3, 0)
    assert getattr(trainer, "_val_check_time_interval", "missing") is None
    assert callback._should_save_on_train_epoch_end(trainer) is True  # validation every epoch: the members save
    sparse = pl.Trainer(check_val_every_n_epoch=2, logger=False, enable_progress_bar=False)
    assert callback._should_save_on_train_epoch_end(sparse) is False


def test_the_checkpoint_connector_still_gives_the_loops_state_a_checkpoint_holds(tmp_path) -> None:
    """A member's checkpoint takes the loops' state from `trainer._checkpoint_connector
    ._get_loops_state_dict()` at its epoch's end: it must be what Lightning itself writes under
    `loops` at that moment."""

    class Compare(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self.loops = trainer._checkpoint_connector._get_loops_state_dict()
            trainer.save_checkpoint(tmp_path / "now.ckpt")

    compare = Compare()
    _fit_with(compare, tmp_path)
    written = torch.load(tmp_path / "now.ckpt", weights_only=False)["loops"]
    assert "fit_loop" in compare.loops and compare.loops == written


def test_the_plain_progress_state_is_asdicts_on_every_tracker_and_on_a_trained_trainers_loops(tmp_path) -> None:
    """`plain_progress_state` replaces `asdict` in the progress trackers' `state_dict`: on every
    tracker class Lightning defines (each counter moved off its default) and on the loops of a
    fitted Trainer it must give exactly `asdict`'s dicts, and a tracker's attributes must be its fields."""
    import dataclasses

    from pytorch_lightning.loops import progress

    from dlbench.runtime.lightning import _plain_state_dict

    def moved(tracker: object, start: int) -> int:
        for field in dataclasses.fields(tracker):
            value = getattr(tracker, field.name)
            if dataclasses.is_dataclass(value):
                start = moved(value, start)
            elif isinstance(value, bool):
                setattr(tracker, field.name, not value)
            elif isinstance(value, int):
                setattr(tracker, field.name, start)
                start += 1
        return start

    classes = [c for c in vars(progress).values() if isinstance(c, type) and issubclass(c, progress._BaseProgress)]
    assert len(classes) >= 9  # _BaseProgress and its eight trackers in Lightning 2.6
    for kind in classes:
        tracker = kind()
        moved(tracker, 1)
        assert set(vars(tracker)) == {field.name for field in dataclasses.fields(tracker)}, kind.__name__
        assert _plain_state_dict(tracker) == dataclasses.asdict(tracker), kind.__name__
    trainer = _fit_with(pl.Callback(), tmp_path)
    loops = trainer._checkpoint_connector._get_loops_state_dict()
    original = progress._BaseProgress.state_dict
    try:
        progress._BaseProgress.state_dict = lambda self: dataclasses.asdict(self)  # Lightning's own
        assert trainer._checkpoint_connector._get_loops_state_dict() == loops
    finally:
        progress._BaseProgress.state_dict = original
    assert original is _plain_state_dict  # on, by importing the checkpoint callback (conftest builds runs)


def test_each_dump_of_the_loops_state_is_fresh_and_later_training_leaves_it_alone(tmp_path) -> None:
    """`BufferedCheckpoint` holds a held checkpoint's `loops` entry by reference, not by copy: each
    `_get_loops_state_dict()` must be new dicts (none shared with the loops or with another dump)
    that go on saying the epoch they were taken at while training continues."""
    import copy

    def containers(state: object) -> list[int]:
        if isinstance(state, dict):
            return [id(state), *(i for value in state.values() for i in containers(value))]
        if isinstance(state, (list, tuple)):
            return [id(state), *(i for value in state for i in containers(value))]
        return []

    class Keep(pl.Callback):
        def __init__(self) -> None:
            self.taken: list[tuple[dict, dict]] = []  # this fit's dumps only

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            state = trainer._checkpoint_connector._get_loops_state_dict()
            self.taken.append((state, copy.deepcopy(state)))

    keep = Keep()
    _fit_with(keep, tmp_path, epochs=3)
    (first, first_copy), (second, _), _ = keep.taken
    assert first == first_copy, "training on changed a dump of the loops' state"
    assert first != second  # the dumps say their own epochs
    assert not set(containers(first)) & set(containers(second)), "two dumps share a dict"


def test_torch_schedulers_still_read_opt_called_before_warning_of_a_step_order() -> None:
    """With the stacked update a member's own optimizer never steps; the population sets its
    `_opt_called`, which torch's scheduler reads to decide whether `optimizer.step()` ran first."""
    import warnings

    def scheduler_warnings(mark: bool) -> list[str]:
        optimizer = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
        if mark:
            optimizer._opt_called = True
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scheduler.step()
        return [str(warning.message) for warning in caught if "optimizer.step()" in str(warning.message)]

    assert scheduler_warnings(mark=False), "torch no longer warns: the population's mark may be dropped"
    assert not scheduler_warnings(mark=True), "torch no longer reads _opt_called"


# -- the lr finder's progress bar (runtime/lr_finder_progress.py) ---------------------------------
def test_lightnings_lr_finder_draws_its_bar_with_the_module_level_tqdm(tmp_path) -> None:
    """lr_finder_progress swaps `pytorch_lightning.tuner.lr_finder.tqdm` while the finder runs: a
    real lr_find must draw its bar with exactly that name (and step it once per trial batch)."""
    from pytorch_lightning.tuner import Tuner, lr_finder

    from dlbench.runtime.lr_finder_progress import lr_finder_progress

    drawn: list[dict] = []

    class Recorder:
        def __init__(self, *args, **kwargs) -> None:
            drawn.append({"total": kwargs.get("total"), "updates": 0})

        def update(self, count: int = 1) -> None:
            drawn[-1]["updates"] += count

        def close(self) -> None: ...

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randint(0, 3, (16,))))
    task = _task()
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, default_root_dir=tmp_path)
    original = lr_finder.tqdm
    with lr_finder_progress(trainer, Recorder, terminal=False):
        Tuner(trainer).lr_find(task, train_dataloaders=data, num_training=6, update_attr=False)
    assert lr_finder.tqdm is original, "restored afterwards"
    assert drawn == [{"total": 6, "updates": 6}]


def test_hydras_job_helpers_the_population_launcher_calls_still_save_and_flush(tmp_path) -> None:
    """population/launch.py runs each member's job as Hydra's own launchers do, with hydra.core.utils'
    private `_save_config` (the member's .hydra/*.yaml) and `_flush_loggers` (its train.log)."""
    import logging

    from hydra.core.utils import _flush_loggers, _save_config
    from omegaconf import OmegaConf

    _save_config(OmegaConf.create({"seed": 3}), "config.yaml", tmp_path / ".hydra")
    assert OmegaConf.load(tmp_path / ".hydra" / "config.yaml") == {"seed": 3}
    flushed: list[bool] = []

    class Handler(logging.Handler):
        def emit(self, record) -> None: ...

        def flush(self) -> None:
            flushed.append(True)

    logger = logging.getLogger("dlbench.contract")
    logger.addHandler(handler := Handler())
    try:
        _flush_loggers()
    finally:
        logger.removeHandler(handler)
    assert flushed, "every logger's handlers are flushed"


def test_hydras_basic_sweeper_still_splits_a_sweep_into_jobs_in_its_order() -> None:
    """The seeded sweeper subclasses hydra._internal's BasicSweeper, and the report's sweep plan calls
    its `split_arguments` to list the jobs in Hydra's order (job i is the i-th combination)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.dlbench_population_launcher.seeded_sweeper import SeededSweeper

    parsed = OverridesParser.create().parse_overrides(["optimizer.lr=0.1,0.01", "seed=1,2", "model=mlp"])
    batches = BasicSweeper.split_arguments(parsed, None)
    jobs = [tuple(job) for batch in batches for job in batch]
    assert jobs == [
        ("optimizer.lr=0.1", "seed=1", "model=mlp"),
        ("optimizer.lr=0.1", "seed=2", "model=mlp"),
        ("optimizer.lr=0.01", "seed=1", "model=mlp"),
        ("optimizer.lr=0.01", "seed=2", "model=mlp"),
    ]
    assert issubclass(SeededSweeper, BasicSweeper) and "sweep" in vars(SeededSweeper)


# -- DDP children (runtime/ddp.py) -------------------------------------------------------------
def test_lightnings_ddp_launcher_builds_the_childrens_command_from_sys_argv_and_the_run_dir(
    monkeypatch, tmp_path
) -> None:
    """job_command_line rewrites sys.argv and Hydra's run.dir so that the children run this job;
    Lightning's launcher under Hydra must still build their command from exactly those two."""
    from hydra.core.hydra_config import HydraConfig
    from lightning_fabric.strategies.launchers.subprocess_script import _hydra_subprocess_cmd

    from dlbench.config.compose import compose_config
    from dlbench.runtime.ddp import job_command_line

    compose_config(["optimizer.lr=0.1"], tmp_path / "job")
    monkeypatch.setattr(sys, "argv", ["train.py", "-m", "optimizer.lr=0.1,0.2"])
    with job_command_line(HydraConfig.get()):
        command, _ = _hydra_subprocess_cmd(local_rank=1)
    assert "optimizer.lr=0.1" in command and "hydra.mode=RUN" in command and "-m" not in command
    assert f'hydra.run.dir="{tmp_path / "job"}"' in command
    assert sys.argv == ["train.py", "-m", "optimizer.lr=0.1,0.2"], "restored after the job"


# -- privates leaned on outside runtime/ (see dlbench.runtime's docstring) --------------------------
def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_model_checkpoints_private_methods_keep_the_signatures_buffered_checkpoint_overrides() -> None:
    """BufferedCheckpoint and the population's TopOnes call and override these ModelCheckpoint methods."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    assert _parameters(ModelCheckpoint._save_checkpoint) == ["self", "trainer", "filepath"]
    assert _parameters(ModelCheckpoint._remove_checkpoint) == ["self", "trainer", "filepath"]
    assert _parameters(ModelCheckpoint._monitor_candidates) == ["self", "trainer"]
    assert _parameters(ModelCheckpoint._save_last_checkpoint) == ["self", "trainer", "monitor_candidates"]
    assert "_save_checkpoint" in inspect.getsource(ModelCheckpoint._save_last_checkpoint)


def test_the_trainers_private_connectors_still_hold_what_the_record_uses() -> None:
    """The checkpoint connector dumps and names the loops' state; the signal connector's flag stops fit."""
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    connector = trainer._checkpoint_connector
    assert _parameters(connector.dump_checkpoint) == ["weights_only"]
    assert callable(connector._get_loops_state_dict)
    assert trainer._signal_connector.received_sigterm is False
    from pytorch_lightning.loops import _TrainingEpochLoop

    assert "received_sigterm" in inspect.getsource(_TrainingEpochLoop)


def test_the_fit_loops_restart_flag_and_scheduler_step_are_where_exact_resume_sets_them() -> None:
    from pytorch_lightning.loops import _FitLoop, _TrainingEpochLoop

    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert isinstance(trainer.fit_loop, _FitLoop) and hasattr(trainer.fit_loop, "_restarting")
    assert _parameters(_TrainingEpochLoop.update_lr_schedulers) == ["self", "interval", "update_plateau_schedulers"]
    assert "update_plateau_schedulers" in inspect.getsource(_FitLoop.on_advance_end)


def test_the_rich_bar_stops_at_once_however_long_its_drawing_thread_sleeps() -> None:
    """EpochBar swaps Lightning's drawing thread (rich_progress._RefreshThread, its `done` event and
    `refresh_cond`, Rich's `live._refresh_thread` and `live._lock`) for one that waits on its stop
    event: with a look every 100 s, stopping the bar must still return (Lightning's would sleep on)."""
    import threading

    from dlbench.callbacks.progress import EpochBar, PromptRefreshThread

    bar = EpochBar(refresh_rate=0.01)  # type: ignore[arg-type]
    trainer = pl.Trainer(callbacks=[bar], logger=False, enable_checkpointing=False, max_epochs=1)
    bar._init_progress(trainer)
    assert bar.progress is not None
    drawer = bar.progress.live._refresh_thread
    assert isinstance(drawer, PromptRefreshThread) and drawer.is_alive()
    bar.progress.soft_refresh()
    assert drawer.refresh_cond is True  # Lightning's soft refresh still reaches the thread that draws
    stopping = threading.Thread(target=bar.progress.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=60)
    assert not stopping.is_alive(), "stopping the bar waited for its drawing thread's 100 s sleep"
    assert not drawer.is_alive()
