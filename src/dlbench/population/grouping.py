"""Which jobs of a sweep can train together, and why a job cannot.

The grouping rule: two jobs join one population when their resolved configs are equal once the
per-member keys are set aside. Per-member keys change numbers but neither tensor shapes nor the
data stream's shape: the seed, the optimizer's hyperparameters, the initializer and its
parameters, the scheduler's parameters, L1/L2 penalty weights, label smoothing, early-stopping
patience and min_delta, the model's activation where it is elementwise (`ELEMENTWISE_ACTIVATIONS`),
and the run directory. One per-member key changes shapes: an MLP's hidden widths, at one depth
(`WIDTH_KEYS`): members are padded to the widest with zeros that stay zero
(`dlbench.population.padding`). Every other key, including any key this module
does not know (`+my.key=1`), is part of the group's identity: jobs that differ in it are trained as
separate populations, so no override is ever dropped.

A job that a population cannot express at all runs alone, the normal way; `blocker(cfg)` names
the first key that forces that, with its value and why, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from omegaconf import DictConfig, OmegaConf

PER_MEMBER = "<per member>"
RUN_DIR = "<run dir>"

# Dotted keys whose values may differ between the members of one population.
MEMBER_KEYS = {
    "seed",
    "seeds",
    "dataset.seed",
    "optimizer._target_",  # the class: members of other classes step by their own torch optimizers
    "optimizer.lr",
    "optimizer.momentum",
    "optimizer.dampening",
    "optimizer.weight_decay",
    "optimizer.nesterov",
    "optimizer.betas",
    "optimizer.eps",
    "optimizer.alpha",
    "optimizer.lr_decay",
    "optimizer.initial_accumulator_value",
    "optimizer.centered",
    "optimizer.amsgrad",
    "optimizer.scale_lr_with_batch",
    "optimizer.reference_batch",
    "penalty.l1",
    "penalty.l2",
    "task.label_smoothing",
    "task.input_noise",
    "model.dropout",
    "model.noise_std",
    "callbacks.early_stopping.patience",
    "callbacks.early_stopping.min_delta",
    "callbacks.max_norm.max_norm",
}
# Groups whose every key is per member, except those listed (which stay in the group's identity).
MEMBER_PREFIXES: dict[str, tuple[str, ...]] = {"initializer.": (), "scheduler.": ()}
# Nodes that are per member as a whole (their set of keys too: each scheme has its own parameters).
MEMBER_NODES = {"initializer"}
# Per-member keys whose presence still matters (none now). A per-member key may be present in one
# member's config and absent (its default) in another's: each member's optimizer, scheduler and
# task read their own config. An L1/L2 penalty (`penalty.l1`/`l2`) present in some members only:
# a member without it gets a term of exactly 0 and rows without `data_loss` and `penalty`, as its
# run alone (`PopulationModule._penalty`, `_own_rows`).
PRESENCE_MATTERS: set[str] = set()
# Per-member keys whose being zero or not matters: a dropout probability of 0 leaves the Dropout
# layer out of the MLP, a positive one puts it in after every activation, which moves every later
# layer (`layers.3.weight` becomes `layers.4.weight`): the members' parameters would no longer be
# stacked name by name, and their checkpoints' state dict names differ, so they stay apart (making
# them one would take a renaming of every member's names; dropout members run member by member on
# the CPU anyway). `model.noise_std` (a denoising autoencoder) is not here: its noise is drawn in
# `forward` with the same modules, so 0 and > 0 train together, each member drawing its own.
POSITIVE_MATTERS = {"model.dropout"}
# Keys that change a member's parameter shapes and are still per member: an MLP's hidden widths
# (`model.hidden=[16],[32],[64]`), at one depth (the number of layers, hence the parameters' names,
# stays in the identity), without batch norm (a population keeps batch statistics unpadded). The
# members are padded to the widest with zeros whose gradients, optimizer state and penalties are
# exactly zero (`dlbench.population.padding`); every other architecture keeps its widths in the
# identity.
WIDTH_KEYS = {"model.hidden"}
PADDED_MODELS = {"dlbench.models.mlp.MLP"}
# Activations that are one elementwise function with no parameters and no change of width: the
# members' networks keep the same parameter shapes, so members may differ in it (each runs its own
# nonlinearity, `dlbench.population.batched.Chain`). PReLU has a parameter and maxout widens the
# layer before it: those stay in the group's identity.
ELEMENTWISE_ACTIVATIONS = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"}

# Optimizers whose step re-evaluates the loss (a closure) or takes sparse gradients: a population
# evaluates every member's loss once per step. Any other optimizer steps each member on its own
# (`dlbench.population.optimizers`).
CLOSURE_OPTIMIZERS = {"torch.optim.LBFGS", "torch.optim.SparseAdam"}
CHECKPOINTS = {"dlbench.callbacks.checkpoint.BufferedCheckpoint", "pytorch_lightning.callbacks.ModelCheckpoint"}
EARLY_STOPPING = {"pytorch_lightning.callbacks.EarlyStopping"}
# An EarlyStopping by kind: each member's own reads its own row and stops it alone (`criterion=`)
CRITERION = {"dlbench.callbacks.criterion.StopAtCriterion"}
HARMLESS_CALLBACKS = {
    "pytorch_lightning.callbacks.ModelSummary",
    "dlbench.callbacks.pictures.Pictures",
    "dlbench.callbacks.progress.progress_bar",  # the population shows one bar for all its members
}
STEP_CALLBACKS = {  # applied per member by the population
    "dlbench.callbacks.weights.MaxNorm",
    "dlbench.callbacks.layer_stats.LayerStatistics",  # dlbench.population.layer_stats
    "dlbench.callbacks.pca_baseline.PCABaseline",  # each member's own baseline in its rows and test
    "dlbench.callbacks.dropout_ensemble.DropoutEnsemble",  # each member's own network, after the test
}
LOGGERS = {
    "pytorch_lightning.loggers.CSVLogger",
    "dlbench.loggers.csv_logger.EpochCSVLogger",
    "dlbench.loggers.wandb_logger.DlbenchWandbLogger",
}


def is_member_key(key: str) -> bool:
    if key in MEMBER_KEYS:
        return True
    for prefix, kept in MEMBER_PREFIXES.items():
        if key.startswith(prefix) and key not in kept:
            return True
    return False


def _leaves(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted key, value) of every leaf; an empty mapping is a leaf."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


def _identity(node: Any, run_dir: str, prefix: str = "") -> Any:
    """The config with per-member values replaced by a marker and the run directory by another."""
    key = prefix[:-1]
    if key in MEMBER_NODES:
        return PER_MEMBER
    if key == "model" and isinstance(node, dict) and widths_per_member(node):
        node = {**node, "hidden": f"{PER_MEMBER}: {len(node['hidden'])} hidden layers"}  # the depth splits
    if isinstance(node, dict):
        kept = {
            name: value
            for name, value in node.items()
            if f"{prefix}{name}" in PRESENCE_MATTERS | POSITIVE_MATTERS
            or not (is_member_key(f"{prefix}{name}") or f"{prefix}{name}" in MEMBER_NODES)
        }
        identity = {name: _identity(value, run_dir, f"{prefix}{name}.") for name, value in kept.items()}
        identity = {name: value for name, value in identity.items() if value != {}}  # empty = absent
        for name in node:
            if f"{prefix}{name}" in PRESENCE_MATTERS:
                identity[name] = PER_MEMBER
        return identity
    if key in POSITIVE_MATTERS:
        return PER_MEMBER if isinstance(node, (int, float)) and node > 0 else node
    if key == "trainer.max_epochs":  # a member of fewer epochs stops at its own max, as one stopped early
        return PER_MEMBER if isinstance(node, int) and node > 0 else node
    if key == "model.activation":
        return PER_MEMBER if node in ELEMENTWISE_ACTIVATIONS else node
    if is_member_key(key):
        return PER_MEMBER
    if isinstance(node, list):
        return [_identity(item, run_dir, prefix) for item in node]
    if isinstance(node, str) and run_dir and run_dir in node:
        return node.replace(run_dir, RUN_DIR)
    return node


def widths_per_member(model: dict[str, Any]) -> bool:
    """Whether this model's hidden widths are per member (`WIDTH_KEYS`): a plain MLP, no batch norm."""
    return (
        model.get("_target_") in PADDED_MODELS
        and isinstance(model.get("hidden"), list)
        and not model.get("batch_norm", False)
    )


def group_key(cfg: DictConfig) -> str:
    """What a job shares with the other members of its population (a JSON text)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    run_dir = str(container.get("paths", {}).get("output_dir", "")) if isinstance(container, dict) else ""
    return json.dumps(_identity(container, run_dir), sort_keys=True, default=str)


def differing_keys(keys: list[str]) -> list[str]:
    """The dotted config keys whose values differ between these group keys (why they are apart)."""
    flat = [dict(_leaves(json.loads(key))) for key in keys]
    names = sorted({name for leaves in flat for name in leaves})
    return [name for name in names if len({json.dumps(leaves.get(name), sort_keys=True) for leaves in flat}) > 1]


def _target(node: Any) -> str:
    return str(node.get("_target_", "")) if isinstance(node, (dict, DictConfig)) else ""


def blocker(cfg: DictConfig, env_set: dict[str, Any] | None = None) -> str | None:
    """Why this job cannot be a member of a population, in one line naming the key; None if it can."""
    if not cfg.get("train", True):
        return "train=false evaluates a checkpoint; it runs alone"
    if cfg.get("ckpt_path"):
        return f"ckpt_path={cfg.ckpt_path} resumes one run's checkpoint; it runs alone"
    tune = cfg.get("tune") or {}
    for key in ("lr_find", "batch_size"):
        if tune.get(key):
            return f"tune.{key}=true tunes one run before it trains; it runs alone"
    compiled = cfg.get("compile", False)
    if compiled not in (False, None):
        return f"compile={compiled} compiles one network; a population runs its members through vmap instead"
    if env_set:
        return f"hydra.job.env_set={dict(env_set)} sets the environment of one job"
    return _trainer_blocker(cfg.trainer) or _model_blocker(cfg) or _training_blocker(cfg) or _callbacks_blocker(cfg)


def _trainer_blocker(trainer: DictConfig) -> str | None:
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    if str(devices) not in ("1", "auto") or str(nodes) != "1":
        return f"trainer.devices={devices} trainer.num_nodes={nodes}: a population trains in one process on one device"
    strategy = str(trainer.get("strategy", "auto"))
    if strategy not in ("auto", "single_device"):
        return f"trainer.strategy={strategy}: a population trains in one process on one device"
    precision = str(trainer.get("precision", 32))
    if precision not in ("32", "32-true"):
        return f"trainer.precision={precision}: populations train in float32 (their equivalence is tested there)"
    for key, fine in (
        ("accumulate_grad_batches", (None, 1)),
        ("val_check_interval", (None, 1, 1.0)),
        ("fast_dev_run", (None, False, 0)),
        ("overfit_batches", (None, 0, 0.0)),
        ("detect_anomaly", (None, False)),
        ("profiler", (None,)),
        ("max_time", (None,)),
    ):
        value = trainer.get(key)
        if value not in fine:
            return f"trainer.{key}={value} has no population version; it runs alone"
    return None


def _on_cpu(cfg: DictConfig) -> bool:
    return str(cfg.trainer.get("accelerator", "auto")) == "cpu"


def _model_blocker(cfg: DictConfig) -> str | None:
    model = cfg.model
    sparsity = model.get("sparsity", 0.0) or 0.0
    if sparsity > 0:
        return f"model.sparsity={sparsity} reads the code of each forward pass, which a population does not keep"
    for key in ("dropout", "noise_std"):
        value = model.get(key, 0.0) or 0.0
        if value > 0 and not _on_cpu(cfg):
            return (
                f"model.{key}={value} draws random numbers, which a population draws as the run alone does only "
                f"on the CPU (trainer=cpu); trainer.accelerator={cfg.trainer.get('accelerator')}"
            )
    if model.get("batch_norm") and not _on_cpu(cfg):
        return "model.batch_norm=true: a population keeps each member's batch statistics on the CPU only (trainer=cpu)"
    return None


def _training_blocker(cfg: DictConfig) -> str | None:
    target = _target(cfg.optimizer)
    if target in CLOSURE_OPTIMIZERS:
        return (
            f"optimizer._target_={target} re-evaluates the loss within a step, which a population does once; "
            "it runs alone"
        )
    for name in cfg.get("penalty") or {}:
        if name not in ("l1", "l2"):
            return f"penalty.{name}={cfg.penalty[name]} reads the network's activations; only l1 and l2 are vectorised"
    task = cfg.get("task") or {}
    if (task.get("adversarial_epsilon") or 0.0) > 0:
        return (
            f"task.adversarial_epsilon={task.get('adversarial_epsilon')} has no population version yet; it runs alone"
        )
    if (task.get("input_noise") or 0.0) > 0 and not _on_cpu(cfg):
        return (
            f"task.input_noise={task.get('input_noise')} draws random numbers, which a population draws as the run "
            "alone does only on the CPU (trainer=cpu)"
        )
    return None


def _callbacks_blocker(cfg: DictConfig) -> str | None:
    for name, callback in (cfg.get("callbacks") or {}).items():
        if not callback or callback.get("enabled", True) is False:
            continue
        target = _target(callback)
        if target in CHECKPOINTS:
            for key, fine in (
                ("save_top_k", (1,)),
                ("every_n_epochs", (None, 1)),
                ("every_n_train_steps", (None, 0)),
                ("train_time_interval", (None,)),
                ("save_weights_only", (None, False)),
                ("save_on_train_epoch_end", (None,)),
            ):
                if callback.get(key, fine[0]) not in fine:
                    return f"callbacks.{name}.{key}={callback.get(key)}: a population keeps one best, one last"
            filename = callback.get("filename")  # None: Lightning names each best by its epoch and step
            if filename is None or "{" in str(filename):
                return f"callbacks.{name}.filename={filename}: a population keeps fixed file names"
        elif target in EARLY_STOPPING:
            value = callback.get("check_on_train_epoch_end")
            if value is not None:
                return f"callbacks.{name}.check_on_train_epoch_end={value} has no population version"
        elif target == "dlbench.callbacks.pictures.Pictures":
            every = callback.get("every_n_epochs", 0)
            if every:
                return f"callbacks.{name}.every_n_epochs={every}: members' pictures are drawn at the end only"
        elif target not in HARMLESS_CALLBACKS | STEP_CALLBACKS | CRITERION:
            return f"callbacks.{name} ({target}) has no population version; it runs alone"
    for name, logger in (cfg.get("logger") or {}).items():
        if logger and _target(logger) not in LOGGERS:
            return f"logger.{name} ({_target(logger)}) has no population version; it runs alone"
    return None
