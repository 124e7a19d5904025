"""The typed schema of a run's config: every value a user can type, checked before torch is imported.

One pydantic model per config group says what each key must be (its type and range), and a
phrase for the user: `must` (the valid values) and `fix` (what to type instead). A bad value
becomes one sentence, `optimizer.lr=abc must be a number > 0; try 0.1 for SGD or 0.001 for Adam.`,
raised as `ConfigError` in a few milliseconds, long before torch and Lightning are imported.

Groups allow keys the schema does not name (a model's or a dataset's own options, a user's
`+key=value`): those are checked against the class that takes them when the run is built. Rules
that tie two keys together (a cosine warm-up needs `total_epochs > warmup_epochs`) follow the
types in `_rules`. The lists of names (activations, losses, initializer schemes, pictures) are
the registries' own, repeated here because the registries import torch; tests/test_config.py
checks that the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from dlbench.errors import ConfigError

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "softplus", "gelu", "maxout")
LOSSES = (
    "auto",
    "cross_entropy",
    "bce",
    "mse",
    "l1",
    "huber",
    "sse",
    "gaussian_nll",
    "mdn",
    "dice",
    "wasserstein_dice",
)
UNITS = ("auto", "sigmoid", "linear")
SCHEMES = (
    "default",
    "zeros",
    "constant",
    "uniform",
    "normal",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
    "lsuv",
)
PICTURES = ("curves", "decision_surface", "filters", "activations", "reconstructions", "fit", "segmentation")
PENALTIES = ("l1", "l2", "activity_l1")
PRECISIONS = ("32", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64", "64-true")
WANDB_MODES = ("auto", "online", "offline", "disabled")
SCALING_KEYS = ("scale_lr_with_batch", "reference_batch")  # optimizer keys of dlbench's, not the optimizer's


def rule(must: str, fix: str = "", **constraints: Any) -> Any:
    """A schema field that may be absent; `must` and `fix` make its sentence when it is wrong."""
    return Field(None, json_schema_extra={"must": must, "fix": fix}, **constraints)


class Group(BaseModel):
    """A config group: known keys typed, other keys allowed (checked where they are used)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic's lax mode reads true as 1; `trainer.max_epochs=true` is a mistake, not one epoch."""
        if isinstance(value, bool) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if "bool" not in str(annotation):
                raise ValueError("a boolean where a number is expected")
        return value


class Root(Group):
    seed: int | None = rule("a whole number in [0, 2**32)", "e.g. seed=42", ge=0, lt=2**32)
    seeds: int | None = rule("a whole number >= 1 (seeds per setting)", "e.g. seeds=5", ge=1)
    train: bool | None = rule("true or false", "train=false evaluates ckpt_path without training")
    test: bool | None = rule("true or false", "test=false skips the test split")
    ckpt_path: str | None = rule("the path of a .ckpt file", "e.g. ckpt_path=outputs/<run>/checkpoints/last.ckpt")
    monitor: str | None = rule("a metric name", "e.g. monitor=val/loss or monitor=val/acc")
    monitor_mode: Literal["min", "max"] | None = rule("'min' or 'max'", "min for a loss, max for an accuracy")
    loss: Literal[LOSSES] | None = rule(f"one of {', '.join(LOSSES)}", "auto picks it from the data")
    compile: bool | dict[str, Any] | None = rule(
        "true/false or a mapping of torch.compile options", "use compile=true or compile={mode:max-autotune}"
    )
    threads: Literal["auto"] | Annotated[int, Field(ge=1)] | None = rule(
        "'auto' or a whole number >= 1 of CPU threads", "auto takes one thread for a tiny network's step"
    )
    penalty: dict[Literal[PENALTIES], Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = rule(
        f"a weight >= 0 of one of the loss terms {', '.join(PENALTIES)}", "e.g. penalty.l2=1e-4"
    )

    @field_validator("ckpt_path")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("empty")
        return value


class Output(Group):
    unit: Literal[UNITS] | None = rule(f"one of {', '.join(UNITS)}", "auto puts a sigmoid on mse/sse for 0/1 targets")
    variance: Literal["learned"] | Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = rule(
        "'learned' or a variance > 0", "use learned, or e.g. 0.5 (which gives the gradients of loss=mse)"
    )
    components: int | None = rule("a whole number >= 1 (Gaussians in the mixture)", "e.g. output.components=5", ge=1)
    smooth: float | None = rule("a number >= 0", "1.0 is usual", ge=0, allow_inf_nan=False)
    class_distances: list[list[float]] | None = rule(
        "a square matrix of distances between classes", "e.g. output.class_distances=[[0,1],[1,0]]"
    )


class Task(Group):
    tolerance: float | None = rule(
        "a number > 0, or null", "0.1 is the 1986 criterion (within 0.1 of the target)", gt=0, allow_inf_nan=False
    )
    input_noise: float | None = rule("a standard deviation >= 0", "use e.g. 0.1", ge=0, allow_inf_nan=False)
    adversarial_epsilon: float | None = rule("an epsilon >= 0", "use e.g. 0.1", ge=0, allow_inf_nan=False)
    label_smoothing: float | None = rule("a fraction in [0, 1)", "use e.g. 0.1", ge=0, lt=1)


class Optimizer(Group):
    lr: float | None = rule("a number > 0", "try 0.1 for SGD or 0.001 for Adam", gt=0, allow_inf_nan=False)
    momentum: float | None = rule("a number in [0, 1)", "0.9 is the usual value", ge=0, lt=1)
    dampening: float | None = rule("a number in [0, 1]", "0 is the usual value", ge=0, le=1)
    nesterov: bool | None = rule("true or false")
    weight_decay: float | None = rule("a number >= 0", "e.g. 1e-4, or 0 for none", ge=0, allow_inf_nan=False)
    betas: tuple[float, float] | None = rule("two numbers in [0, 1)", "e.g. optimizer.betas=[0.9,0.999]")
    eps: float | None = rule("a number > 0", "e.g. 1e-8", gt=0, allow_inf_nan=False)
    alpha: float | None = rule("a number in [0, 1)", "0.99 is the usual value", ge=0, lt=1)
    centered: bool | None = rule("true or false")
    lr_decay: float | None = rule("a number >= 0", "0 is the usual value", ge=0, allow_inf_nan=False)
    initial_accumulator_value: float | None = rule("a number >= 0", "0 is the usual value", ge=0)
    scale_lr_with_batch: bool | None = rule("true or false", "true scales lr by effective batch / reference_batch")
    reference_batch: int | None = rule("a whole number >= 1", "e.g. 256", ge=1)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not all(0 <= beta < 1 for beta in value):
            raise ValueError("out of range")
        return value


class Scheduler(Group):
    step_size: int | None = rule("a whole number of epochs >= 1", "e.g. 30", ge=1)
    gamma: float | None = rule("a factor in (0, 1]", "e.g. 0.1", gt=0, le=1)
    T_max: int | None = rule("a whole number of epochs >= 1", "e.g. ${trainer.max_epochs}", ge=1)
    eta_min: float | None = rule("a learning rate >= 0", "e.g. 0", ge=0)
    factor: float | None = rule("a factor in (0, 1)", "e.g. 0.1", gt=0, lt=1)
    patience: int | None = rule("a whole number of epochs >= 0", "e.g. 10", ge=0)
    threshold: float | None = rule("a number >= 0", "e.g. 1e-4", ge=0)
    min_lr: float | None = rule("a learning rate >= 0", "e.g. 0", ge=0)
    mode: Literal["min", "max"] | None = rule("'min' or 'max'")
    warmup_epochs: int | None = rule("a whole number of epochs >= 1", "e.g. 5", ge=1)
    start_factor: float | None = rule("a factor in (0, 1]", "try 0.1", gt=0, le=1)
    after: Literal["constant", "cosine"] | None = rule("constant or cosine")
    total_epochs: int | None = rule("a whole number of epochs >= 1", "e.g. ${trainer.max_epochs}", ge=1)


class Initializer(Group):
    scheme: Literal[SCHEMES] | None = rule(f"one of {', '.join(SCHEMES)}", "e.g. initializer=he_normal")
    gain: float | None = rule("a number > 0", "e.g. 1", gt=0, allow_inf_nan=False)
    a: float | None = rule("a number >= 0 (weights in [-a, a])", "e.g. 0.3", ge=0, allow_inf_nan=False)
    std: float | None = rule("a standard deviation >= 0", "e.g. 0.01", ge=0, allow_inf_nan=False)
    value: float | None = rule("a finite number", "e.g. 0.1", allow_inf_nan=False)
    bias: Annotated[float, Field(allow_inf_nan=False)] | Literal["scheme"] | None = rule(
        "a number, 'scheme' (drawn like the weights) or null (each layer's own)", "e.g. 0"
    )
    lsuv_batch: int | None = rule("a whole number >= 2", "e.g. 256", ge=2)
    tol: float | None = rule("a number > 0", "e.g. 0.05", gt=0)
    max_iter: int | None = rule("a whole number >= 1", "e.g. 10", ge=1)


class Augment(Group):
    crop_padding: int | None = rule("a whole number of pixels >= 0", "use 0 to turn it off", ge=0)
    hflip: bool | None = rule("true or false")
    degrees: float | None = rule("a number of degrees >= 0", "use 0 to turn it off", ge=0)
    translate: float | None = rule("a fraction of the image in [0, 1)", "use 0 to turn it off", ge=0, lt=1)
    scale: float | None = rule("a fraction in [0, 1)", "use 0 to turn it off", ge=0, lt=1)
    noise_std: float | None = rule("a standard deviation >= 0", "use 0 to turn it off", ge=0)


class Dataset(Group):
    batch_size: Annotated[int, Field(ge=1)] | Literal["full"] | None = rule(
        "a whole number >= 1, or 'full'", "'full' is full-batch gradient descent"
    )
    val_fraction: float | None = rule("a fraction in (0, 1) or a whole number of examples", "e.g. 0.2", gt=0)
    test_fraction: float | None = rule("a fraction in (0, 1) or a whole number of examples", "e.g. 0.2", gt=0)
    seed: int | None = rule("a whole number >= 0", "it follows seed=", ge=0)
    standardize: bool | None = rule("true or false")
    stratify: bool | None = rule("true or false")
    on_device: bool | None = rule("true or false")
    in_memory: bool | None = rule("true or false")
    holdout: bool | None = rule("true or false")
    download: bool | None = rule("true or false")
    data_dir: str | None = rule("a directory", "e.g. dataset.data_dir=../data")
    size: int | None = rule("a whole number of pixels >= 8", "8 is the original, 28 lets model=lenet read them", ge=8)
    bits: int | None = rule("a whole number >= 2", "e.g. 6", ge=2)
    copies: int | None = rule("a whole number >= 0", "0 for the four points alone", ge=0)
    noise: float | None = rule("a standard deviation >= 0", "0 for none", ge=0, allow_inf_nan=False)
    num_samples: int | None = rule("a whole number >= 4", "e.g. 1000", ge=4)
    length: int | None = rule("a whole number of steps >= 1", "e.g. 20", ge=1)
    num_classes: int | None = rule("a whole number >= 2", "e.g. 3", ge=2)
    factor: float | None = rule("a ratio in (0, 1)", "the inner circle's radius over the outer's, e.g. 0.5", gt=0, lt=1)
    turns: float | None = rule("a number of revolutions > 0", "e.g. 1", gt=0)
    gate: Literal["and", "or"] | None = rule("and or or")
    augment: Augment | None = None

    @field_validator("val_fraction", "test_fraction")
    @classmethod
    def _fraction_or_count(cls, value: float | None) -> float | None:
        if value is not None and value >= 1 and not float(value).is_integer():
            raise ValueError("neither a fraction nor a count")
        return value


class Model(Group):
    hidden: list[int] | None = rule("a list of widths >= 1 (units per hidden layer)", "e.g. model.hidden=[64,64]")
    activation: Literal[ACTIVATIONS] | None = rule(f"one of {', '.join(ACTIVATIONS)}", "e.g. relu")
    batch_norm: bool | None = rule("true or false")
    dropout: float | None = rule("a probability in [0, 1)", "use e.g. 0.5", ge=0, lt=1)
    negative_slope: float | None = rule("a number >= 0", "e.g. 0.01", ge=0)
    maxout_pieces: int | None = rule("a whole number >= 2", "maxout needs at least 2 pieces", ge=2)
    code_size: int | None = rule("a whole number >= 1", "e.g. model.code_size=32", ge=1)
    channels: list[int] | None = rule("a non-empty list of channel counts >= 1", "e.g. [16, 32]", min_length=1)
    sparsity: float | None = rule("a weight >= 0", "use 0 (off) or a small weight such as 1e-3", ge=0)
    noise_std: float | None = rule("a standard deviation >= 0", "use 0 (off) or e.g. 0.3", ge=0)
    cell: Literal["rnn", "lstm", "gru"] | None = rule("rnn, lstm or gru")
    hidden_size: int | None = rule("a whole number >= 1", "e.g. 64", ge=1)
    num_layers: int | None = rule("a whole number >= 1", "e.g. 2", ge=1)
    bidirectional: bool | None = rule("true or false")
    nonlinearity: Literal["tanh", "relu"] | None = rule("tanh or relu")
    variant: Literal["imagenet", "cifar"] | None = rule("imagenet or cifar")
    lrn: bool | None = rule("true or false")

    @field_validator("hidden", "channels")
    @classmethod
    def _widths_positive(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not all(width >= 1 for width in value):
            raise ValueError("a width < 1")
        return value


class Trainer(Group):
    max_epochs: int | None = rule("a whole number >= 1", "e.g. trainer.max_epochs=100", ge=1)
    min_epochs: int | None = rule("a whole number >= 0", "e.g. 1", ge=0)
    max_steps: int | None = rule("a whole number >= -1", "-1 for no limit", ge=-1)
    precision: Literal[PRECISIONS] | None = rule("a precision Lightning knows", "use 32, 16-mixed (GPU) or bf16-mixed")
    num_nodes: int | None = rule("a whole number >= 1", "1 on one machine", ge=1)
    gradient_clip_val: float | None = rule("a number >= 0, or null for no clipping", "e.g. 1.0", ge=0)
    gradient_clip_algorithm: Literal["norm", "value"] | None = rule("norm or value")
    check_val_every_n_epoch: int | None = rule("a whole number >= 1", "e.g. 1", ge=1)
    log_every_n_steps: int | None = rule("a whole number >= 1", "e.g. 1", ge=1)
    accumulate_grad_batches: int | None = rule("a whole number >= 1", "e.g. 4", ge=1)
    deterministic: bool | Literal["warn"] | None = rule("true, false or warn")
    enable_progress_bar: bool | None = rule("true or false")
    detect_anomaly: bool | None = rule("true or false")
    fast_dev_run: bool | int | None = rule("true/false or a number of batches", "e.g. true")
    accelerator: str | None = rule("cpu, gpu, mps or auto", "e.g. trainer=gpu")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class EarlyStopping(Group):
    patience: int | None = rule("a whole number of epochs >= 1", "try 10", ge=1)
    min_delta: float | None = rule("a number >= 0", "e.g. 0", ge=0)
    mode: Literal["min", "max"] | None = rule("'min' or 'max'")


class MaxNorm(Group):
    max_norm: float = rule("a number > 0", "Srivastava et al. (2014) used 3 to 4", gt=0)


class WeightNoise(Group):
    std: float = rule("a standard deviation >= 0", "use e.g. 0.01", ge=0)


class Pictures(Group):
    draw: Literal["auto"] | list[Literal[PICTURES]] | Literal[PICTURES] | None = rule(
        f"'auto' or a list from {', '.join(PICTURES)}", "e.g. callbacks.pictures.draw=[curves]"
    )
    every_n_epochs: int | None = rule("a whole number >= 0", "0 draws at the end only", ge=0)
    enabled: bool | None = rule("true or false")


class LayerStats(Group):
    enabled: bool | None = rule("true or false")
    every_n_batches: int | None = rule("a whole number >= 1", "1 measures every batch", ge=1)
    saturation: float | None = rule("a number in (0.5, 1)", "0.99 is usual", gt=0.5, lt=1)


class Checkpoint(Group):
    flush_every_s: float | None = rule("a number of seconds >= 0", "e.g. 60", ge=0)


class Criterion(Group):
    metric: Annotated[str, Field(pattern=r"/")] | None = rule("a metric name", "e.g. val/acc or train/loss")
    value: float | None = rule("a number", "e.g. 1.0 for every pattern right", allow_inf_nan=False)
    mode: Literal["min", "max"] | None = rule("'min' or 'max'")
    stop: bool | None = rule("true or false", "false only records epochs_to_criterion")


class Callbacks(Group):
    criterion: Criterion | None = None
    early_stopping: EarlyStopping | None = None
    max_norm: MaxNorm | None = None
    weight_noise: WeightNoise | None = None
    pictures: Pictures | None = None
    layer_stats: LayerStats | None = None
    model_checkpoint: Checkpoint | None = None


class Tune(Group):
    lr_find: bool | None = rule("true or false")
    batch_size: bool | None = rule("true or false")
    apply: bool | None = rule("true or false", "false only reports the suggestions")
    min_lr: float | None = rule("a learning rate > 0", "e.g. 1e-6", gt=0)
    max_lr: float | None = rule("a learning rate > 0", "e.g. 1", gt=0)
    num_training: int | None = rule("a whole number of steps >= 2", "e.g. 100", ge=2)
    batch_size_mode: Literal["power", "binsearch"] | None = rule("power or binsearch")
    max_trials: int | None = rule("a whole number >= 1", "e.g. 8", ge=1)


class Wandb(Group):
    mode: Literal[WANDB_MODES] | None = rule(f"one of {', '.join(WANDB_MODES)}", "e.g. offline")


class Logger(Group):
    wandb: Wandb | None = None


GROUPS: dict[str, type[Group]] = {
    "output": Output,
    "task": Task,
    "optimizer": Optimizer,
    "scheduler": Scheduler,
    "initializer": Initializer,
    "dataset": Dataset,
    "model": Model,
    "trainer": Trainer,
    "callbacks": Callbacks,
    "tune": Tune,
    "logger": Logger,
}


def _show(value: Any) -> str:
    """A value as the user typed it: `abc`, `1.5`, `[8, 0]`, `''` for an empty one."""
    if isinstance(value, str):
        return value if value.strip() else repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    return str(value)


_UNION_TAG = re.compile(r"^(bool|int|float|str|none|(list|dict|tuple|literal|function-\w+|constrained-\w+)\[.*)$")


def _field_rule(model: type[BaseModel], path: tuple[str | int, ...]) -> tuple[str, dict[str, str]]:
    """The dotted key of an error location and its field's `must`/`fix` (from the deepest named field).

    pydantic's locations also name union members (`bool`, `literal['auto']`): only field names, and
    the key inside a mapping field (`penalty.l3`), are part of the user's key."""
    keys: list[str] = []
    found: dict[str, str] = {}
    current: Any = model
    in_mapping = False
    for part in path:
        fields = getattr(current, "model_fields", None)
        if isinstance(part, str) and _UNION_TAG.match(part) and not (fields and part in fields):
            continue
        if fields is None or part not in fields:
            if in_mapping and isinstance(part, str) and part != "[key]":
                keys.append(part)
            break
        keys.append(part)
        info = fields[part]
        if isinstance(info.json_schema_extra, dict):
            found = {key: str(value) for key, value in info.json_schema_extra.items()}
        members = getattr(info.annotation, "__args__", ())
        in_mapping = any(getattr(member, "__origin__", None) is dict for member in members)
        current = next(
            (member for member in members if isinstance(member, type) and issubclass(member, BaseModel)), None
        )
    return ".".join(keys), found


def _sentence(group: str | None, model: type[BaseModel], error: ValidationError, config: Mapping[str, Any]) -> str:
    first = error.errors()[0]
    key, described = _field_rule(model, tuple(first["loc"]))
    key = f"{group}.{key}" if group else key
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else value
    must, fix = described.get("must", "a valid value"), described.get("fix", "")
    return f"{key}={_show(value)} must be {must}" + (f"; {fix}." if fix else ".")


def _validate(model: type[Group], data: Any, group: str | None, config: Mapping[str, Any]) -> None:
    try:
        model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_sentence(group, model, error, config)) from None


def _rules(config: Mapping[str, Any]) -> Iterator[str]:
    """Sentences for combinations the per-key types cannot see; empty when all is well."""
    scheduler = config.get("scheduler") or {}
    if scheduler.get("after") == "cosine":
        total, warm = scheduler.get("total_epochs"), scheduler.get("warmup_epochs", 5)
        if total is None or total <= warm:
            yield (
                f"scheduler.total_epochs={total} must exceed warmup_epochs={warm} for a cosine decay after the "
                "warm-up; e.g. scheduler.total_epochs=${trainer.max_epochs}."
            )
    initializer = config.get("initializer") or {}
    if initializer.get("bias") == "scheme" and initializer.get("scheme") not in ("uniform", "normal", "constant"):
        yield (
            f"initializer.bias=scheme draws the biases like the weights, which initializer.scheme="
            f"{initializer.get('scheme')} does not define; use initializer=uniform, normal or constant."
        )
    tune = config.get("tune") or {}
    if (tune.get("lr_find") or tune.get("batch_size")) and not tune.get("min_lr", 0) < tune.get("max_lr", 1):
        yield f"tune.min_lr={tune.get('min_lr')} must be below tune.max_lr={tune.get('max_lr')}; e.g. 1e-6 and 1."
    model = config.get("model") or {}
    if "cell" in model:
        layers, dropout = model.get("num_layers", 1), model.get("dropout", 0.0)
        if dropout and layers == 1:
            yield (
                f"model.dropout={dropout} acts only between stacked layers, and model.num_layers=1; set "
                "model.num_layers=2 or more."
            )
        if model.get("cell") != "rnn" and model.get("nonlinearity", "tanh") != "tanh":
            yield f"model.nonlinearity={model['nonlinearity']} applies only to model=rnn; LSTM and GRU gates are fixed."
    if "channels" in model and model.get("activation") == "maxout":
        yield (
            "model.activation=maxout is not available in conv_autoencoder; choose relu, tanh, elu or another "
            "of the set."
        )
    trainer = config.get("trainer") or {}
    if trainer.get("min_epochs") and trainer.get("max_epochs") and trainer["min_epochs"] > trainer["max_epochs"]:
        yield f"trainer.min_epochs={trainer['min_epochs']} must not exceed trainer.max_epochs={trainer['max_epochs']}."
    if not config.get("train", True) and not config.get("ckpt_path"):
        yield (
            "train=false evaluates a checkpoint, but ckpt_path is not set; add "
            "ckpt_path=<run dir>/checkpoints/best.ckpt."
        )


class PopulationLauncher(Group):
    """`hydra.launcher.*` of `hydra/launcher=population` (configs/hydra/launcher/population.yaml)."""

    min_members: int | None = rule(
        "a whole number >= 2 (the smallest group trained as a population)", "2 is the default", ge=2
    )
    pictures: bool | None = rule("true or false", "false skips each member's pictures")
    sweep_seeds: int | None = rule("a whole number >= 1 (seeds per setting of a named sweep)", "e.g. 5", ge=1)


def check_population_launcher(options: Mapping[str, Any]) -> None:
    """Refuse a bad `hydra.launcher.*` value of the population launcher in one sentence (exit status 2)."""
    _validate(PopulationLauncher, dict(options), "hydra.launcher", {"hydra": {"launcher": dict(options)}})


def _split_rule(dataset: Mapping[str, Any]) -> Iterator[str]:
    """val_fraction is a fraction of what the test split leaves: two fractions summing to 1 or more
    leave (1 - test) * (1 - val) of the data to train on, far less than a user who added them meant."""
    val, test = dataset.get("val_fraction"), dataset.get("test_fraction")
    numbers = all(isinstance(value, int | float) and not isinstance(value, bool) for value in (val, test))
    if numbers and val < 1 and test < 1 and val + test >= 1:
        left = (1 - test) * (1 - val)
        yield (
            f"dataset.val_fraction={_show(val)} with dataset.test_fraction={_show(test)} leaves {left:.0%} of the "
            "examples to train on (the validation split is taken from what the test split leaves); make the two "
            "sum to less than 1, e.g. 0.2 and 0.2."
        )


def _accelerator_rule(trainer: Mapping[str, Any]) -> Iterator[str]:
    from importlib.util import find_spec

    if str(trainer.get("accelerator", "")).lower() == "tpu" and find_spec("torch_xla") is None:
        yield (
            "trainer.accelerator=tpu needs torch_xla, which is not installed here; use trainer.accelerator=cpu, "
            "gpu or auto, or install torch_xla on a TPU machine."
        )


def check_config(config: Mapping[str, Any]) -> None:
    """Raise `ConfigError` with one sentence for the first value or combination that is wrong.

    `config` is the resolved job config as plain containers (no `hydra` node needed)."""
    _validate(Root, {key: value for key, value in config.items() if key not in GROUPS}, None, config)
    for name, model in GROUPS.items():
        section = config.get(name)
        if isinstance(section, Mapping):
            _validate(model, dict(section), name, config)
        elif section is not None:
            raise ConfigError(f"{name}={_show(section)} must be a config group; pick an option, e.g. {name}=default.")
    dataset, trainer = config.get("dataset") or {}, config.get("trainer") or {}
    for sentence in (*_rules(config), *_split_rule(dataset), *_accelerator_rule(trainer)):
        raise ConfigError(sentence)
