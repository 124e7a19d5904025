"""The resolve step: a run's composed config in, every decision of the run out, as one frozen plan.

`resolve(cfg, context)` is pure and cheap, and is called again whenever the run learns something
the config could not say: the checkpoint's own config (evaluation), the data (its spec and size,
for the model/data checks, `batch_size=full` and the learning-rate scaling), the number of
processes, and the finders' suggestions (`tune=`). Each call runs every check that the facts known
so far allow, so a mistake is refused as early as it can be seen:

1. before torch is imported: every value and combination of the config (`schema.check_config`),
   and the run's context (a DDP job under a launcher that cannot start its ranks, torchrun ranks
   without a shared run directory);
2. with the data: each model, loss and regularizer against what the data is (`pairs.check_pairs`).

Building then only instantiates the plan (`dlbench.run.builders`); nothing writes onto the config or
the task afterwards; the summary is made once from (plan, outcome) (`dlbench.run.summary`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbench.config.context import RunContext, externally_launched
from dlbench.config.early import check_checkpoint_file, check_gpu_present, check_predict, check_targets
from dlbench.config.redaction import redact_environment, unresolved
from dlbench.config.schema import SCALING_KEYS, check_config
from dlbench.errors import ConfigError, require
from dlbench.models.custom import model_name

if TYPE_CHECKING:
    from dlbench.data.spec import DataSpec

# Our keys in the optimizer group; the rest are the optimizer class's own arguments.
# Strategies whose extra ranks Lightning starts itself by running the script again.
_RELAUNCHING = ("spawn", "fork", "notebook")


@dataclass(frozen=True)
class Facts:
    """What the run found out after the config was read: the data and the processes."""

    spec: DataSpec
    train_size: int
    world_size: int = 1
    effective_batch_size: int | None = None  # examples per optimizer step over all processes, as the data says


@dataclass(frozen=True)
class Tuning:
    """The finders' suggestions (`tune=`) and whether to train with them."""

    lr: float | None = None
    batch_size: int | None = None
    report: Mapping[str, Any] = field(default_factory=dict)  # summary.json's "tuning"


@dataclass(frozen=True)
class TaskOptions:
    """How the task trains: its loss, the regularizers in its step, the metric it is judged by."""

    loss: str = "auto"
    penalties: Mapping[str, float] = field(default_factory=dict)
    label_smoothing: float = 0.0
    input_noise: float = 0.0
    adversarial_epsilon: float = 0.0
    tolerance: float | None = None  # an output counts as right within this of its target (else the 0.5 readout)
    monitor: str = "val/loss"
    monitor_mode: str = "min"


@dataclass(frozen=True)
class RunPlan:
    """Every decision of one run. The instantiation configs are plain mappings (`_target_` + keys)."""

    context: RunContext
    config: Mapping[str, Any]  # the resolved job config as it will be recorded (summary, checkpoints, loggers)
    seed: int
    train: bool
    test: bool
    ckpt_path: str | None  # resume from it (train=true) or evaluate it (train=false)
    model_name: str
    dataset: Mapping[str, Any]
    model: Mapping[str, Any]
    initializer: Mapping[str, Any]
    optimizer: Mapping[str, Any]  # the optimizer partial, its lr already the rate trained with
    scheduler: Mapping[str, Any] | None
    task: TaskOptions
    callbacks: Mapping[str, Mapping[str, Any]]  # only those switched on
    loggers: Mapping[str, Mapping[str, Any]]
    trainer: Mapping[str, Any]
    compile: Mapping[str, Any] | None  # torch.compile's options, None for no compiling
    tune: Mapping[str, Any] | None  # the finders to run first, None when none (or done)
    output: Mapping[str, Any] = field(default_factory=dict)  # the output unit's knobs (`output.*`)
    network_spec: DataSpec | None = None  # the data's spec with the outputs the loss's unit needs
    facts: Facts | None = None
    tuning: Tuning | None = None
    lr: float | None = None  # the rate trained with: optimizer.lr, scaled with the batch, or tuned
    effective_batch_size: int | None = None  # examples per optimizer step over all processes

    @property
    def output_dir(self) -> Path:
        return self.context.output_dir

    @property
    def monitor(self) -> str:
        return self.task.monitor

    @property
    def monitor_mode(self) -> str:
        return self.task.monitor_mode

    @property
    def test_checkpoint(self) -> str | None:
        """What `test` evaluates: the checkpoint given when evaluating, else the best one."""
        return self.ckpt_path if not self.train else "best"


def plain(cfg: Any) -> dict[str, Any]:
    """The job config as plain containers, interpolations resolved, Hydra's own node left out.
    An interpolation that cannot be resolved (`optimizer.lr=${foo}`) is one sentence."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import InterpolationResolutionError

    if isinstance(cfg, DictConfig):
        try:
            container = OmegaConf.to_container(cfg, resolve=True)
        except InterpolationResolutionError as error:
            key = getattr(error, "full_key", None) or "a value"
            written = OmegaConf.select(cfg, key, throw_on_resolution_failure=False) if key != "a value" else None
            raw = OmegaConf.to_container(cfg, resolve=False)
            for part in str(key).split("."):
                raw = raw.get(part) if isinstance(raw, dict) else written
            reason = str(error).splitlines()[0]
            raise ConfigError(
                f"{key}={raw} cannot be resolved ({reason}); an interpolation names another key of the config, "
                "e.g. ${trainer.max_epochs}, or an environment variable, e.g. ${oc.env:HOME}."
            ) from None
    else:
        container = dict(cfg)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return container


def _groups(config: Mapping[str, Any], name: str) -> dict[str, Mapping[str, Any]]:
    """The entries of a group of named parts (callbacks, loggers) that are switched on."""
    entries = config.get(name) or {}
    return {key: value for key, value in entries.items() if value and value.get("enabled", True) is not False}


def _progress_decided(config: Mapping[str, Any]) -> dict[str, Any]:
    """`trainer.enable_progress_bar` null means "where a person watches" (`wants_progress`); the
    Trainer and the bar's callback get the decision, the recorded config keeps what was typed."""
    from dlbench.terminal.watching import wants_progress

    trainer = dict(config["trainer"])
    show = wants_progress(trainer.get("enable_progress_bar"))
    trainer["enable_progress_bar"] = show
    callbacks = dict(config.get("callbacks") or {})
    if isinstance(callbacks.get("progress_bar"), Mapping):
        callbacks["progress_bar"] = dict(callbacks["progress_bar"], enabled=show)
    return dict(config, trainer=trainer, callbacks=callbacks)


EVALUATED_AS_TRAINED = ("dataset", "model", "loss", "output", "penalty", "task")
DATA_LOCATION = ("data_dir", "download", "on_device", "in_memory")  # where the data is: this machine's


def _stored(config: dict[str, Any], stored: Mapping[str, Any] | None, overrides: Sequence[str]) -> dict[str, Any]:
    """Evaluation rebuilds the data, model and loss the checkpoint was trained with, whatever the
    command says; each section is replaced whole (a merge would fail on keys one dataset has and
    another lacks). Only where the data lives is taken from the command line, when it says so."""
    if not stored:
        return config
    merged = dict(config)
    for key in EVALUATED_AS_TRAINED:
        if key in stored:
            merged[key] = stored[key]
    typed = {item.lstrip("+~").split("=", 1)[0] for item in overrides}
    dataset = dict(merged["dataset"])
    for key in DATA_LOCATION:
        if f"dataset.{key}" in typed and key in config["dataset"]:
            dataset[key] = config["dataset"][key]
    merged["dataset"] = dataset
    return merged


def check_choices(context: RunContext) -> None:
    """Refuse an option of an optional group that does not exist (Hydra skips it without a word:
    `debug=foo` trained a whole run)."""
    from dlbench.config.compose import CONFIGS

    for group in ("debug",):
        choice = context.choices.get(group)
        if choice and not (CONFIGS / group / f"{choice}.yaml").exists():
            options = sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))
            raise ConfigError(f"{group}={choice} is not an option; choose one of: {', '.join(options)}.")


def check_context(config: Mapping[str, Any], context: RunContext) -> None:
    """Refuse the runs this context cannot start (DDP under torchrun, srun or a non-basic launcher)."""
    check_choices(context)
    trainer = config.get("trainer") or {}
    external = externally_launched()
    if external and not context.multirun:
        rank = os.environ.get("RANK", os.environ.get("SLURM_PROCID", "?"))
        require(
            context.run_dir_named,
            f"this process is rank {rank} of a job started by torchrun or srun, and each rank would make its own "
            "outputs/<date>/<time>; add hydra.run.dir=<one path all machines see> to the command.",
        )
    strategy = str(trainer.get("strategy", "auto"))
    devices = trainer.get("devices", 1)
    many = devices in (-1, "-1", "auto") or "," in str(devices) or (str(devices).isdigit() and int(str(devices)) > 1)
    relaunches = strategy.startswith("ddp") and not any(word in strategy for word in _RELAUNCHING)
    if relaunches and many and not external:
        require(
            context.launcher in ("basic", "population"),
            f"trainer.strategy={strategy} with trainer.devices={devices} starts its other processes by running "
            f"train.py again, which a job of hydra/launcher={context.launcher} cannot do; leave hydra/launcher out "
            "(the basic launcher runs DDP jobs one after another), or on SLURM set hydra.launcher.tasks_per_node to "
            "trainer.devices so SLURM starts every process.",
        )
    seeds = int(config.get("seeds", 1) or 1)
    if seeds > 1 and not context.multirun and "LOCAL_RANK" not in os.environ:  # DDP children of a job are RUN mode
        typed = " ".join(context.overrides)
        chosen, command = f"seeds={seeds}", f"seeds={seeds} ..."
        if typed and "seeds=" not in typed:  # an experiment's own seeds: name the command that chose them
            chosen, command = f"seeds={seeds} (set by {typed})", typed
        require(
            False,
            f"{chosen} repeats every setting over {seeds} seeds, which takes a multirun; add -m "
            f"(python train.py -m {command}).",
        )
    nodes = int(trainer.get("num_nodes", 1) or 1)
    tune = config.get("tune") or {}
    if tune.get("lr_find") or tune.get("batch_size"):
        finder = "tune=lr" if tune.get("lr_find") else "tune=batch_size"
        require(
            not many and nodes == 1 and not external,
            f"{finder} runs its trial steps in one process, but trainer.devices={devices} asks for several; find "
            "the value with trainer.devices=1, then train on all devices with it.",
        )
    require(
        nodes == 1 or external,
        f"trainer.num_nodes={nodes} needs one process per device on {nodes} machines, started by SLURM "
        "(hydra/launcher=submitit_slurm) or torchrun (see docs/devices.md); on one machine use "
        "trainer=ddp or trainer=ddp_cpu.",
    )


def _preset(context: RunContext, group: str) -> dict[str, Any] | None:
    """The config file of the option chosen in `group` (`configs/model/mlp.yaml`), as written."""
    import yaml

    from dlbench.config.compose import CONFIGS

    choice = context.choices.get(group)
    path = CONFIGS / group / f"{choice}.yaml" if choice else None
    return yaml.safe_load(path.read_text()) if path is not None and path.exists() else None


def _learning_rate(optimizer: Mapping[str, Any], batch: int | None, tuning: Tuning | None) -> float | None:
    """The rate trained with: the finder's suggestion, else `lr`, times batch / reference_batch when
    the rate scales with the batch (Goyal et al. 2017: k times the batch takes k times the rate)."""
    if tuning is not None and tuning.lr is not None:
        return float(tuning.lr)
    lr = optimizer.get("lr")
    if lr is None or not optimizer.get("scale_lr_with_batch", False) or batch is None:
        return None if lr is None else float(lr)
    return float(lr) * batch / int(optimizer.get("reference_batch", 256))


def _effective_batch(facts: Facts | None, tuning: Tuning | None) -> int | None:
    if facts is None:
        return None
    if tuning is not None and tuning.batch_size is not None:
        return tuning.batch_size * facts.world_size
    return facts.effective_batch_size


def resolve(
    cfg: Any,
    context: RunContext,
    *,
    stored: Mapping[str, Any] | None = None,
    facts: Facts | None = None,
    tuning: Tuning | None = None,
) -> RunPlan:
    """The plan of the run `cfg` describes, with what is known so far (see the module docstring)."""
    config = _stored(plain(cfg), stored, context.overrides)
    check_config(config)
    check_context(config, context)
    check_targets(config)  # a package that is not installed, a GPU trainer without a GPU: before torch
    check_gpu_present(config["trainer"], context.trainer_preset)
    check_predict(config)
    check_checkpoint_file(config)  # missing, a directory, empty, not a zip archive: before torch
    if facts is not None:  # torch is imported by now: a user's model class may be looked at
        from dlbench.models.custom import drop_preset_leftovers

        config["model"] = drop_preset_leftovers(config["model"], _preset(context, "model"))
    name = model_name(config["model"])
    network = None
    if facts is not None:
        from dlbench.config.pairs import check_pairs

        network = check_pairs(config, facts.spec, name)
    dataset = dict(config["dataset"])
    if tuning is not None and tuning.batch_size is not None and "batch_size" in dataset:
        dataset["batch_size"] = int(tuning.batch_size)
    batch = _effective_batch(facts, tuning)
    lr = _learning_rate(config["optimizer"], batch, tuning)
    optimizer = {key: value for key, value in config["optimizer"].items() if key not in SCALING_KEYS}
    if lr is not None:
        optimizer["lr"] = lr
    recorded = dict(config, dataset=dataset)
    if tuning is not None and tuning.lr is not None and "lr" in config["optimizer"]:
        # the recorded config trains with the suggestion again (before any scaling with the batch)
        scale = (
            1.0
            if not config["optimizer"].get("scale_lr_with_batch") or batch is None
            else batch / int(config["optimizer"].get("reference_batch", 256))
        )
        recorded["optimizer"] = dict(config["optimizer"], lr=float(tuning.lr) / scale)
    recorded = redact_environment(recorded, unresolved(cfg))  # no secret from the environment in a record
    task = config.get("task") or {}
    tune = config.get("tune") or {}
    wants_tuning = config.get("train", True) and (tune.get("lr_find") or tune.get("batch_size"))
    compile_value = config.get("compile", False)
    shown = _progress_decided(config)
    return RunPlan(
        context=context,
        config=recorded,
        seed=int(config["seed"]),
        train=bool(config.get("train", True)),
        test=bool(config.get("test", True)),
        ckpt_path=config.get("ckpt_path"),
        model_name=name,
        dataset=dataset,
        model={key: value for key, value in config["model"].items() if key != "name"},
        initializer=dict(config.get("initializer") or {}),
        optimizer=optimizer,
        scheduler=dict(config["scheduler"]) if config.get("scheduler") else None,
        task=TaskOptions(
            loss=str(config.get("loss", "auto")),
            penalties=dict(config.get("penalty") or {}),
            label_smoothing=float(task.get("label_smoothing", 0.0)),
            input_noise=float(task.get("input_noise", 0.0)),
            adversarial_epsilon=float(task.get("adversarial_epsilon", 0.0)),
            tolerance=task.get("tolerance"),
            monitor=str(config["monitor"]),
            monitor_mode=str(config["monitor_mode"]),
        ),
        callbacks=_groups(shown, "callbacks"),
        loggers=_groups(config, "logger"),
        trainer=dict(shown["trainer"]),
        compile=None if compile_value in (None, False) else ({} if compile_value is True else dict(compile_value)),
        tune=dict(tune) if wants_tuning and tuning is None else None,
        output=dict(config.get("output") or {}),
        network_spec=network,
        facts=facts,
        tuning=tuning,
        lr=lr,
        effective_batch_size=batch,
    )
