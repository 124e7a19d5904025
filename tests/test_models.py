"""The model zoo: shapes on every kind of data it can read, exact sizes, gradients, learning, refusals."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import EarlyStopping
from torch.utils.data import DataLoader, TensorDataset

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError
from dlbench.models import build_model
from dlbench.models.alexnet import AlexNet
from dlbench.models.measure import count_parameters, forward_flops
from dlbench.tasks import Task

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "model"

TABLE = DataSpec("table", (16,), 3, "multiclass")
MNIST = DataSpec("mnist", (1, 28, 28), 10, "multiclass")
CIFAR = DataSpec("cifar10", (3, 32, 32), 10, "multiclass")
SMALL_IMAGES = DataSpec("small", (1, 8, 8), 4, "multiclass")
ODD_IMAGES = DataSpec("odd", (2, 13, 11), 4, "multiclass")
SEQUENCES = DataSpec("seq", (6, 3), 4, "multiclass", sequence=True)
SEQ_MNIST = DataSpec("seq_mnist", (28, 28), 10, "multiclass", sequence=True)
NEXT_STEP = DataSpec("next", (6, 2), 1, "regression", sequence=True, per_step=True)
IRIS = DataSpec("iris", (4,), 3, "multiclass")


def build(name: str, spec: DataSpec, **options):
    """The model `python train.py model=<name> model.<option>=...` builds for data `spec`."""
    cfg = OmegaConf.merge(OmegaConf.load(CONFIGS / f"{name}.yaml"), options)
    return build_model(cfg, spec)


def expected_output(name: str, spec: DataSpec, batch: int) -> tuple[int, ...]:
    if "autoencoder" in name:
        return (batch, *spec.input_shape)
    if spec.per_step:
        return (batch, spec.input_shape[0], spec.num_outputs)
    return (batch, spec.num_outputs)


COMPATIBLE = [
    ("perceptron", TABLE),
    ("perceptron", MNIST),
    ("mlp", TABLE),
    ("mlp", MNIST),
    ("mlp", SEQUENCES),
    ("lenet", MNIST),
    ("lenet", CIFAR),
    ("alexnet", CIFAR, {"variant": "cifar"}),
    ("autoencoder", TABLE),
    ("autoencoder", MNIST),
    ("sparse_autoencoder", TABLE),
    ("denoising_autoencoder", MNIST),
    ("conv_autoencoder", MNIST),
    ("conv_autoencoder", CIFAR),
    ("conv_autoencoder", ODD_IMAGES),
    *[(cell, spec) for cell in ("rnn", "lstm", "gru") for spec in (SEQUENCES, SEQ_MNIST, NEXT_STEP, MNIST, CIFAR)],
    ("lstm", SEQUENCES, {"bidirectional": True, "num_layers": 2, "dropout": 0.2}),
    ("gru", NEXT_STEP, {"bidirectional": True}),
]


@pytest.mark.parametrize(
    "case",
    COMPATIBLE,
    ids=lambda c: f"{c[0]}-{c[1].name}" + ("-" + "-".join(map(str, c[2].values())) if len(c) > 2 else ""),
)
def test_output_shape_on_every_compatible_kind_of_data(case) -> None:
    name, spec, options = (*case, {})[:3]
    model = build(name, spec, **options)
    for mode in (True, False):  # training (noise, dropout) and evaluation
        model.train(mode)
        assert model(torch.randn(3, *spec.input_shape)).shape == expected_output(name, spec, 3)
    assert forward_flops(model, spec.input_shape) > 0


def test_lenet_has_the_parameters_of_the_classic_table() -> None:
    assert count_parameters(build("lenet", MNIST)) == 431_080
    # the same recipe on 3x32x32: conv1 3*20*25+20, fc1 reads 50x5x5 = 1250 -> 1250*500+500
    assert count_parameters(build("lenet", CIFAR)) == 1_520 + 25_050 + 625_500 + 5_010


def test_alexnet_at_224_has_the_parameters_of_the_paper() -> None:
    with torch.device("meta"):  # 62 million parameters counted without memory or a real forward pass
        model = AlexNet((3, 224, 224), 1000)
    assert count_parameters(model) == 62_378_344


def test_alexnet_local_response_normalisation_is_optional() -> None:
    plain, with_lrn = build("alexnet", CIFAR, variant="cifar"), build("alexnet", CIFAR, variant="cifar", lrn=True)
    assert not any(isinstance(m, torch.nn.LocalResponseNorm) for m in plain.modules())
    assert sum(isinstance(m, torch.nn.LocalResponseNorm) for m in with_lrn.modules()) == 2


def test_lstm_flops_count_the_recurrent_matrices() -> None:
    """The CPU runs an LSTM as one fused kernel; its multiplications must still be counted."""
    steps, features, hidden = 6, 3, 64
    model = build("lstm", SEQUENCES)
    matmuls = 2 * steps * 4 * hidden * (features + hidden)
    assert forward_flops(model, SEQUENCES.input_shape) >= matmuls


# -- gradients ---------------------------------------------------------------------------------
GRADCHECK = [
    ("perceptron", TABLE, {}),
    ("mlp", TABLE, {"hidden": [5, 4], "activation": "tanh", "batch_norm": True}),
    ("mlp", TABLE, {"hidden": [5], "activation": "maxout"}),
    ("lenet", DataSpec("tiny", (1, 16, 16), 3, "multiclass"), {"activation": "tanh"}),
    ("alexnet", CIFAR, {"variant": "cifar", "lrn": True}),
    ("autoencoder", TABLE, {"code_size": 3, "hidden": [6], "activation": "tanh", "sparsity": 0.1}),
    ("conv_autoencoder", SMALL_IMAGES, {"code_size": 3, "channels": [2, 3], "activation": "tanh"}),
    ("rnn", SEQUENCES, {"hidden_size": 5, "num_layers": 2}),
    ("lstm", SEQUENCES, {"hidden_size": 5, "bidirectional": True}),
    ("gru", NEXT_STEP, {"hidden_size": 5}),
]


@pytest.mark.parametrize("name,spec,options", GRADCHECK, ids=[f"{c[0]}-{i}" for i, c in enumerate(GRADCHECK)])
def test_backward_matches_finite_differences_in_float64(name: str, spec: DataSpec, options: dict) -> None:
    torch.manual_seed(0)
    model = build(name, spec, **options).double().eval()  # eval: no dropout or noise, batch norm fixed
    inputs = torch.randn(2, *spec.input_shape, dtype=torch.float64, requires_grad=True)
    big = count_parameters(model) > 10_000

    def outputs(x: torch.Tensor):
        out = model(x)
        penalties = [term(model) for _, term in getattr(model, "penalties", list)()]
        return (out, *penalties)

    assert torch.autograd.gradcheck(outputs, (inputs,), fast_mode=big, atol=1e-5)


# -- learning ----------------------------------------------------------------------------------
def one_batch(spec: DataSpec, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(size, *spec.input_shape, generator=generator)
    if spec.kind == "regression":
        shape = (size, spec.input_shape[0], spec.num_outputs) if spec.per_step else (size, spec.num_outputs)
        return inputs, torch.randn(shape, generator=generator)
    return inputs, torch.randint(0, spec.num_outputs, (size,), generator=generator)


OVERFIT = [
    ("perceptron", TABLE, {}, 0.05),
    ("mlp", TABLE, {"hidden": [32]}, 0.01),
    ("lenet", MNIST, {}, 0.001),
    ("autoencoder", TABLE, {"code_size": 8}, 0.01),
    ("sparse_autoencoder", TABLE, {}, 0.003),
    ("denoising_autoencoder", TABLE, {"noise_std": 0.05}, 0.01),
    ("conv_autoencoder", SMALL_IMAGES, {"code_size": 16}, 0.01),
    ("rnn", SEQUENCES, {}, 0.01),
    ("lstm", NEXT_STEP, {}, 0.01),
    ("gru", SMALL_IMAGES, {}, 0.01),
    # the cifar recipe on 16x16 (the smallest it reads) keeps this test to a few CPU minutes
    pytest.param(
        "alexnet",
        DataSpec("rgb16", (3, 16, 16), 10, "multiclass"),
        {"variant": "cifar", "dropout": 0.0},
        0.0003,
        marks=pytest.mark.slow,
        id="alexnet",
    ),
]


@pytest.mark.parametrize("name,spec,options,lr", OVERFIT, ids=[c[0] if isinstance(c, tuple) else None for c in OVERFIT])
def test_each_model_overfits_one_small_batch(name: str, spec: DataSpec, options: dict, lr: float) -> None:
    """A Lightning Trainer on one batch: the training loss must fall by at least 90 % within 150
    epochs (training stops as soon as it has: the assertion is the same, the test faster)."""
    pl.seed_everything(0, verbose=False)
    model = build(name, spec, **options)
    task = Task(model, spec, optimizer=partial(torch.optim.Adam, lr=lr))
    batch = one_batch(spec)
    with torch.no_grad():
        first_loss = float(task._step("val", batch))  # the loss at the initial weights: epoch 0's
    task.metrics["val_metrics"].reset()
    loader = DataLoader(TensorDataset(*batch), batch_size=8)
    done = EarlyStopping(
        "train/loss", stopping_threshold=0.1 * first_loss, patience=10**6, check_on_train_epoch_end=True
    )
    trainer = pl.Trainer(
        max_epochs=150,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[done],
    )
    trainer.fit(task, train_dataloaders=loader)
    losses = [row["train/loss"] for row in task.history]
    assert min(losses[-5:]) <= 0.1 * losses[0], f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}"


def test_sparse_autoencoder_adds_its_l1_penalty_to_the_loss() -> None:
    model = build("sparse_autoencoder", TABLE, sparsity=0.5)
    task = Task(model, TABLE, optimizer=partial(torch.optim.SGD, lr=0.1))
    inputs = torch.randn(4, 16)
    loss = task._step("train", (inputs, torch.zeros(4, dtype=torch.long)))
    reconstruction = torch.nn.functional.mse_loss(model(inputs), inputs)
    assert model.code is not None
    assert torch.allclose(loss, reconstruction + 0.5 * model.code.abs().sum(dim=1).mean())


def test_denoising_autoencoder_adds_noise_only_while_training() -> None:
    model = build("denoising_autoencoder", TABLE)
    inputs = torch.randn(4, 16)
    model.eval()
    assert torch.equal(model(inputs), model(inputs))
    model.train()
    assert not torch.equal(model(inputs), model(inputs))


# -- refusals ----------------------------------------------------------------------------------
REFUSALS = [
    ("lenet", IRIS, {}, "lenet needs image inputs (C x H x W); dataset iris gives 4 features; use model=mlp."),
    ("alexnet", IRIS, {}, "alexnet needs image inputs (C x H x W); dataset iris gives 4 features; use model=mlp."),
    ("alexnet", CIFAR, {}, "alexnet (variant=imagenet) cannot read 3x32x32 images"),
    ("lenet", SMALL_IMAGES, {}, "lenet cannot read 1x8x8 images"),
    (
        "conv_autoencoder",
        IRIS,
        {},
        "conv_autoencoder needs image inputs (C x H x W); dataset iris gives 4 features; use model=autoencoder.",
    ),
    (
        "lstm",
        IRIS,
        {},
        "lstm needs sequences (time x features) or images read row by row; dataset iris gives 4 features; "
        "use model=mlp.",
    ),
    ("lenet", MNIST, {"hidden": [10]}, "model.hidden does not apply to model lenet"),
    (
        "mlp",
        NEXT_STEP,
        {},
        "mlp gives one prediction per example, but dataset next wants one at every step of its sequences of "
        "6 steps x 2 features; use model=lstm, model=gru or model=rnn.",
    ),
    ("perceptron", NEXT_STEP, {}, "perceptron gives one prediction per example"),
    (
        "lenet",
        NEXT_STEP,
        {},
        "lenet needs image inputs (C x H x W); dataset next gives sequences of 6 steps x 2 features",
    ),
]


def is_one_sentence(text: str) -> bool:
    """One line ending in a full stop, with no other sentence end ("e.g." is not one)."""
    body = text.replace("e.g.", "eg").replace("i.e.", "ie")
    return "\n" not in text and body.endswith(".") and ". " not in body


@pytest.mark.parametrize("name,spec,options,message", REFUSALS, ids=[f"{c[0]}-{i}" for i, c in enumerate(REFUSALS)])
def test_impossible_pairs_are_refused_in_one_sentence(name: str, spec: DataSpec, options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(name, spec, **options)
    assert message in str(error.value)
    assert is_one_sentence(str(error.value)), str(error.value)


def test_an_autoencoder_refuses_a_classification_loss() -> None:
    with pytest.raises(ConfigError, match="cross_entropy is a classification loss"):
        Task(build("autoencoder", MNIST), MNIST, optimizer=partial(torch.optim.SGD, lr=0.1), loss="cross_entropy")


def test_the_command_line_says_why_lenet_cannot_read_iris(refuse) -> None:
    status, lines = refuse("model=lenet", "dataset=iris")
    assert status == 2
    assert lines == ["error: lenet needs image inputs (C x H x W); dataset iris gives 4 features; use model=mlp."]


# -- the perceptron rule, end to end -------------------------------------------------------------
@pytest.mark.parametrize("gate,separable", [("logic_and", True), ("logic_or", True), ("xor", False)])
def test_perceptron_rule_learns_and_or_but_not_xor(make_cfg, gate: str, separable: bool) -> None:
    """`python train.py model=perceptron optimizer=perceptron_rule dataset=<gate>`: Rosenblatt's rule
    converges on the linearly separable truth tables and cannot classify all four XOR points."""
    from dlbench.run import train

    cfg = make_cfg(
        "model=perceptron",
        "optimizer=perceptron_rule",
        f"dataset={gate}",
        "dataset.batch_size=1",
        "trainer.max_epochs=20",
    )
    train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    accuracies = [row["train/acc"] for row in summary["history"]]
    if separable:
        assert accuracies[-1] == 1.0 and summary["metrics"]["test"]["acc"] == 1.0
    else:
        assert max(accuracies) <= 0.75 and summary["metrics"]["test"]["acc"] <= 0.75


def test_sine_with_an_mlp_is_refused_from_the_command_line(refuse) -> None:
    status, lines = refuse("model=mlp", "dataset=sine")
    assert status == 2
    assert lines[-1].startswith("error: mlp gives one prediction per example, but dataset sine wants one at every step")


# -- pairs a user would try, through the whole run ----------------------------------------------
SEQ = ("dataset.num_samples=64", "dataset.length=8")
RUNS = [
    ("model=lenet", "dataset=digits", "dataset.size=28"),
    ("model=perceptron", "dataset=breast_cancer"),
    (
        "model=mlp",
        "model.hidden=[32,32]",
        "model.activation=maxout",
        "model.batch_norm=true",
        "model.dropout=0.2",
        "dataset=digits",
    ),
    ("model=lstm", "dataset=parity", *SEQ),
    ("model=gru", "dataset=sine", *SEQ),
    ("model=rnn", "dataset=adding", *SEQ),
    ("model=lstm", "dataset=digits"),
    ("model=autoencoder", "dataset=digits"),
    ("model=conv_autoencoder", "dataset=digits"),
    pytest.param(("model=alexnet", "model.variant=cifar", "dataset=digits", "dataset.size=16"), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("overrides", RUNS, ids=lambda o: "-".join(x.split("=")[1] for x in o[:2]))
def test_sensible_pairs_train_and_record_their_size(make_cfg, overrides: tuple[str, ...]) -> None:
    """One epoch of `python train.py <overrides>`: it completes and summary.json holds the model's size."""
    from dlbench.run import train

    cfg = make_cfg(*overrides, "trainer.max_epochs=1", "logger=[]")
    train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["parameters"] > 0 and summary["flops_per_example"] > 0
    assert all(torch.isfinite(torch.tensor(value)) for value in summary["metrics"]["test"].values())
