"""Each training option has the effect the course notes describe: tiny real runs on Iris."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate
from torch import nn

from dlbench.config.context import RunContext
from dlbench.config.plan import resolve
from dlbench.errors import ConfigError
from dlbench.run import build, train
from dlbench.tasks.likelihoods import SquaredError
from dlbench.training.initializers import training_inputs
from dlbench.training.regularizers import fgsm
from dlbench.training.schedulers import warmup
from helpers import run_cli

QUICK = ("logger=[]", "callbacks.model_summary=null", "callbacks.model_checkpoint=null", "callbacks.pictures=null")


def fit(make_cfg, *overrides: str):
    """Build and fit a run; return the task (model + history) and the trainer."""
    datamodule, task, trainer = build(make_cfg(*QUICK, *overrides))
    trainer.fit(task, datamodule=datamodule)
    return task, trainer


def linears(task) -> list[nn.Linear]:
    return [m for m in task.model.modules() if isinstance(m, nn.Linear)]


def hidden_activity(task, datamodule, layer: int = 2) -> torch.Tensor:
    """The output of `task.model.layers[layer]` (the first hidden activation) on the training set."""
    seen = []
    hook = task.model.layers[layer].register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    task.model.eval()
    with torch.no_grad():
        task.model(training_inputs(datamodule, 1000))
    hook.remove()
    return seen[0]


# -- initializers -------------------------------------------------------------------------------
def test_zero_init_never_breaks_symmetry_but_he_normal_does(make_cfg):
    overrides = ("model.hidden=[8]", "model.activation=sigmoid", "trainer.max_epochs=3")
    zeros, _ = fit(make_cfg, "initializer=zeros", *overrides)
    first = linears(zeros)[0].weight
    assert first.abs().sum() > 0, "the hidden layer did learn something"
    assert torch.allclose(first, first[0].expand_as(first)), "every hidden unit stays identical"
    he, _ = fit(make_cfg, "initializer=he_normal", *overrides)
    first = linears(he)[0].weight
    assert not torch.allclose(first, first[0].expand_as(first))


FAN_IN, FAN_OUT = 4, 512  # the hidden layer of model.hidden=[512] on Iris's 4 features
INIT_STD = {
    "normal": 0.01,
    "uniform": 0.3 / math.sqrt(3),
    "xavier_uniform": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "xavier_normal": math.sqrt(2 / (FAN_IN + FAN_OUT)),
    "he_uniform": math.sqrt(2 / FAN_IN),
    "he_normal": math.sqrt(2 / FAN_IN),
}


@pytest.mark.parametrize("scheme", ["default", "zeros", "constant", "orthogonal", *INIT_STD])
def test_each_initializer_draws_the_weights_its_paper_prescribes(make_cfg, scheme):
    _, task, _ = build(make_cfg(*QUICK, f"initializer={scheme}", "model.hidden=[512]"))
    hidden, output = linears(task)
    weight = hidden.weight.detach()
    assert weight.shape == (FAN_OUT, FAN_IN)
    biases = torch.cat([hidden.bias, output.bias]).detach()
    if scheme == "default":  # PyTorch's own: Kaiming-uniform with a=sqrt(5), biases drawn too
        assert weight.abs().max() <= 1 / math.sqrt(FAN_IN) and biases.abs().sum() > 0
        return
    assert torch.equal(biases, torch.zeros_like(biases)), "biases start at zero"
    if scheme == "zeros":
        assert torch.equal(weight, torch.zeros_like(weight))
    elif scheme == "constant":
        assert torch.equal(weight, torch.full_like(weight, 0.1))
    elif scheme == "orthogonal":  # a tall matrix has orthonormal columns, a wide one orthonormal rows
        torch.testing.assert_close(weight.T @ weight, torch.eye(FAN_IN), atol=1e-5, rtol=0)
        wide = output.weight.detach()
        torch.testing.assert_close(wide @ wide.T, torch.eye(3), atol=1e-5, rtol=0)
    else:
        assert float(weight.std()) == pytest.approx(INIT_STD[scheme], rel=0.1)
        assert abs(float(weight.mean())) < 0.1 * INIT_STD[scheme]
        if scheme == "uniform":  # the 1986 paper's +-0.3, filled to its edges
            assert 0.29 < float(weight.abs().max()) <= 0.3


def test_recurrent_weights_get_the_scheme_and_biases_start_at_zero(make_cfg):
    _, task, _ = build(make_cfg(*QUICK, "dataset=sine", "model=lstm", "model.hidden_size=8", "initializer=orthogonal"))
    recurrent = dict(task.model.rnn.named_parameters())
    for name in ("weight_ih_l0", "weight_hh_l0"):  # (4 x 8) x inputs: orthonormal columns
        weight = recurrent[name].detach()
        torch.testing.assert_close(weight.T @ weight, torch.eye(weight.shape[1]), atol=1e-5, rtol=0)
    biases = [p for name, p in task.model.named_parameters() if "bias" in name]
    assert len(biases) >= 3 and all(torch.equal(b, torch.zeros_like(b)) for b in biases)
    # the option can keep PyTorch's biases instead
    _, kept, _ = build(
        make_cfg(
            *QUICK,
            "dataset=sine",
            "model=lstm",
            "model.hidden_size=8",
            "initializer=orthogonal",
            "initializer.bias=null",
        )
    )
    assert kept.model.rnn.bias_hh_l0.abs().sum() > 0


def test_lsuv_gives_unit_output_variance_per_layer_on_its_batch(make_cfg):
    datamodule, task, _ = build(make_cfg(*QUICK, "initializer=lsuv", "model.hidden=[32,16]"))
    batch = training_inputs(datamodule, 256)
    outputs = []
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out: outputs.append(out.var().item())) for layer in linears(task)
    ]
    task.model.eval()
    with torch.no_grad():
        task.model(batch)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 3
    assert all(abs(variance - 1.0) < 0.05 for variance in outputs), outputs
    # PyTorch's default initialisation is far from unit variance on the same batch
    _, plain, _ = build(make_cfg(*QUICK, "model.hidden=[32,16]"))
    with torch.no_grad():
        assert abs(float(plain.model(batch).var()) - 1.0) > 0.2


# -- optimizers ---------------------------------------------------------------------------------
def _two_steps(make_cfg, name: str) -> list[torch.Tensor]:
    torch.manual_seed(0)
    layer = nn.Linear(3, 1)
    start = layer.weight.detach().clone()
    plan = resolve(make_cfg(f"optimizer={name}"), RunContext(output_dir=Path(".")))
    optimizer = instantiate(plan.optimizer)(layer.parameters())
    steps = []
    for _ in range(2):
        optimizer.zero_grad()
        layer(torch.ones(4, 3)).sum().backward()
        optimizer.step()
        steps.append(layer.weight.detach() - start)
    return steps


def test_nesterov_and_momentum_take_different_steps_from_the_same_state(make_cfg):
    momentum, nesterov = _two_steps(make_cfg, "momentum"), _two_steps(make_cfg, "nesterov")
    # first step: momentum moves lr*g, Nesterov looks ahead and moves lr*g*(1 + 0.9)
    torch.testing.assert_close(nesterov[0], momentum[0] * 1.9)
    assert not torch.allclose(nesterov[1], momentum[1])


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"])
def test_every_optimizer_reduces_the_training_loss(make_cfg, name):
    task, _ = fit(make_cfg, f"optimizer={name}", "trainer.max_epochs=3")
    assert task.history[-1]["train/loss"] < task.history[0]["train/loss"]


def test_momentum_gets_further_than_plain_sgd_in_the_same_epochs(make_cfg):
    plain, _ = fit(make_cfg, "optimizer=sgd", "optimizer.lr=0.05", "trainer.max_epochs=3")
    heavy, _ = fit(make_cfg, "optimizer=momentum", "optimizer.lr=0.05", "trainer.max_epochs=3")
    assert heavy.history[-1]["train/loss"] < plain.history[-1]["train/loss"]


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("momentum", ("optimizer.momentum=0.5", "optimizer.dampening=0.1"), {"momentum": 0.5, "dampening": 0.1}),
        ("adagrad", ("optimizer.lr_decay=0.01",), {"lr_decay": 0.01}),
        ("rmsprop", ("optimizer.alpha=0.9", "optimizer.centered=true"), {"alpha": 0.9, "centered": True}),
        ("adam", ("optimizer.betas=[0.8,0.99]", "optimizer.lr=0.003"), {"betas": (0.8, 0.99), "lr": 0.003}),
        ("adamw", ("optimizer.weight_decay=0.1",), {"weight_decay": 0.1}),
    ],
)
def test_each_optimizers_own_knobs_reach_torch(make_cfg, name, overrides, expected):
    _, task, _ = build(make_cfg(*QUICK, f"optimizer={name}", *overrides))
    group = task.configure_optimizers().param_groups[0]
    assert {key: group[key] for key in expected} == expected


def test_full_batch_sgd_takes_one_step_per_epoch(make_cfg):
    _, trainer = fit(make_cfg, "optimizer=sgd", "dataset.batch_size=full", "trainer.max_epochs=3")
    assert trainer.global_step == 3


def resolve_with_data(cfg, datamodule):
    from dlbench.config.plan import Facts

    facts = Facts(datamodule.spec, datamodule.train_size, 1, datamodule.effective_batch_size(1))
    return resolve(cfg, RunContext(output_dir=Path(cfg.paths.output_dir)), facts=facts)


def test_linear_scaling_multiplies_the_rate_by_batch_over_reference(make_cfg):
    cfg = make_cfg("optimizer.scale_lr_with_batch=true", "optimizer.reference_batch=32", "dataset.batch_size=16")
    datamodule, task, trainer = build(cfg)
    assert resolve_with_data(cfg, datamodule).lr == pytest.approx(0.1 * 16 / 32)
    assert task.configure_optimizers().param_groups[0]["lr"] == pytest.approx(0.05)
    _, unscaled, _ = build(make_cfg("optimizer.reference_batch=32", "dataset.batch_size=16"))
    assert unscaled.configure_optimizers().param_groups[0]["lr"] == pytest.approx(0.1)


# -- schedulers ---------------------------------------------------------------------------------
def test_plateau_divides_the_rate_when_validation_loss_flattens(make_cfg):
    # a rate so small the validation loss cannot move: a plateau from the first epoch
    task, _ = fit(make_cfg, "scheduler=plateau", "scheduler.patience=1", "optimizer.lr=1e-6", "trainer.max_epochs=4")
    rates = [row["lr"] for row in task.history]
    assert rates[0] == pytest.approx(1e-6)
    assert rates[-1] == pytest.approx(1e-7)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (("scheduler=none",), [0.1, 0.1, 0.1, 0.1]),
        (("scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.5"), [0.1, 0.05, 0.025, 0.0125]),
        (("scheduler=cosine",), [0.1 * (1 + math.cos(math.pi * epoch / 4)) / 2 for epoch in range(4)]),
        (("scheduler=warmup", "scheduler.warmup_epochs=2"), [0.01, 0.055, 0.1, 0.1]),
    ],
)
def test_each_schedule_sets_the_rate_logged_every_epoch(make_cfg, overrides, expected):
    cfg = make_cfg(
        "logger=[csv]",
        "callbacks.model_summary=null",
        "callbacks.model_checkpoint=null",
        "callbacks.pictures=null",
        "trainer.max_epochs=4",
        *overrides,
    )
    datamodule, task, trainer = build(cfg)
    trainer.fit(task, datamodule=datamodule)
    with open(Path(cfg.paths.output_dir) / "metrics.csv") as file:
        logged = [float(row["lr"]) for row in csv.DictReader(file) if row.get("lr")]
    assert logged == pytest.approx(expected)


def test_warmup_rises_linearly_then_holds_or_decays():
    def rates(after: str) -> list[float]:
        optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        scheduler = warmup(optimizer, warmup_epochs=3, start_factor=0.1, after=after, total_epochs=8)
        seen = []
        for _ in range(8):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return seen

    constant, cosine = rates("constant"), rates("cosine")
    assert constant[:4] == pytest.approx([0.1, 0.4, 0.7, 1.0]) and constant[-1] == pytest.approx(1.0)
    assert cosine[3] == pytest.approx(1.0) and cosine[-1] < 0.2


# -- regularizers -------------------------------------------------------------------------------
def test_l1_makes_weights_sparse_and_l2_makes_them_small(make_cfg):
    """Same seed, data and epochs; only the penalty differs (lambda 0.03 for both)."""

    def weights(*overrides: str) -> torch.Tensor:
        task, _ = fit(make_cfg, "model.hidden=[32]", "trainer.max_epochs=6", *overrides)
        return torch.cat([layer.weight.detach().flatten() for layer in linears(task)])

    plain = weights()
    l1 = weights("regularizer=[l1]", "penalty.l1=0.03")
    l2 = weights("regularizer=[l2]", "penalty.l2=0.03")

    def near_zero(w: torch.Tensor) -> int:
        return int((w.abs() < 0.01).sum())

    # L1's constant pull parks many weights at zero; L2's proportional pull only shrinks them
    assert near_zero(l1) > 2 * near_zero(plain) and near_zero(l1) > 2 * near_zero(l2)
    assert l2.pow(2).sum() < plain.pow(2).sum()


def test_weight_penalties_skip_biases_and_norm_scales(make_cfg):
    _, task, _ = build(make_cfg(*QUICK, "regularizer=[l1,l2,batchnorm]", "penalty.l1=0.5", "penalty.l2=0.25"))
    terms = dict(task.penalties)
    matrices = [layer.weight for layer in linears(task)]
    assert any(isinstance(m, nn.BatchNorm1d) for m in task.model.modules())
    torch.testing.assert_close(terms["l1"](task.model), 0.5 * sum(w.abs().sum() for w in matrices))
    torch.testing.assert_close(terms["l2"](task.model), 0.25 * sum(w.pow(2).sum() for w in matrices))


def test_penalty_is_logged_apart_from_the_data_loss(make_cfg):
    task, _ = fit(make_cfg, "regularizer=[l2]", "penalty.l2=0.01", "trainer.max_epochs=1")
    row = task.history[0]
    assert row["train/penalty"] > 0
    assert row["train/loss"] == pytest.approx(row["train/data_loss"] + row["train/penalty"], rel=1e-5)


def test_dropout_is_active_in_training_and_off_in_evaluation(make_cfg):
    _, task, _ = build(make_cfg(*QUICK, "regularizer=[dropout]", "model.hidden=[64]"))
    x = torch.randn(8, 4)
    task.model.train()
    assert not torch.equal(task.model(x), task.model(x))
    task.model.eval()
    assert torch.equal(task.model(x), task.model(x))


def test_batchnorm_gives_each_hidden_unit_zero_mean_unit_variance_on_a_batch(make_cfg):
    datamodule, task, _ = build(
        make_cfg(*QUICK, "regularizer=[batchnorm]", "model.hidden=[32]", "initializer=normal", "initializer.std=1.0")
    )
    normalised = []
    norm = next(m for m in task.model.modules() if isinstance(m, nn.BatchNorm1d))
    hook = norm.register_forward_hook(lambda _m, _i, out: normalised.append(out.detach()))
    task.model.train()
    task.model(training_inputs(datamodule, 64))
    hook.remove()
    torch.testing.assert_close(normalised[0].mean(0), torch.zeros(32), atol=1e-5, rtol=0)
    torch.testing.assert_close(normalised[0].var(0, unbiased=False), torch.ones(32), atol=1e-3, rtol=0)


def test_early_stopping_stops_patience_epochs_after_the_best(make_cfg):
    cfg = make_cfg(
        "callbacks.pictures=null",
        "regularizer=[early_stopping]",
        "callbacks.early_stopping.patience=2",
        "callbacks.early_stopping.min_delta=0.01",
        "optimizer.lr=1e-6",
        "trainer.max_epochs=20",
    )
    train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert summary["epochs_run"] == 3  # best at epoch 0, then 2 epochs without an improvement of 0.01
    assert summary["stop_reason"].startswith("early stopping at epoch 2")
    assert "val/loss did not improve in the last 2 records" in summary["stop_reason"]


def test_augment_transforms_training_images(make_cfg):
    datamodule, _, _ = build(make_cfg(*QUICK, "dataset=digits", "regularizer=[augment]"))
    images = datamodule.splits["train"][0][:32]
    assert datamodule.augment.active
    assert not torch.allclose(datamodule.augment(images, torch.Generator().manual_seed(0)), images)


@pytest.mark.parametrize(
    ("regularizer", "option"),
    [("input_noise", "task.input_noise=2.0"), ("weight_noise", "callbacks.weight_noise.std=0.5")],
)
def test_noise_raises_the_training_loss_only_and_leaves_the_weights_clean(make_cfg, regularizer, option):
    # a rate so small the weights stay put: any difference is the noise itself
    overrides = ("optimizer.lr=1e-9", "trainer.max_epochs=1")
    plain, _ = fit(make_cfg, *overrides)
    noisy, _ = fit(make_cfg, f"regularizer=[{regularizer}]", option, *overrides)
    assert noisy.history[0]["train/loss"] > plain.history[0]["train/loss"] + 0.05
    assert noisy.history[0]["val/loss"] == pytest.approx(plain.history[0]["val/loss"], rel=1e-5)  # evaluation is clean
    for clean, after in zip(linears(plain), linears(noisy), strict=False):
        torch.testing.assert_close(after.weight, clean.weight)  # the noise was taken away again


def test_activity_l1_makes_the_hidden_code_sparse(make_cfg):
    def activity(*overrides: str) -> torch.Tensor:
        datamodule, task, trainer = build(make_cfg(*QUICK, "model.hidden=[32]", "trainer.max_epochs=4", *overrides))
        trainer.fit(task, datamodule=datamodule)
        return hidden_activity(task, datamodule)

    plain, sparse = activity(), activity("regularizer=[activity_l1]", "penalty.activity_l1=0.3")
    assert (sparse == 0).float().mean() > (plain == 0).float().mean()
    assert sparse.abs().sum(1).mean() < 0.5 * plain.abs().sum(1).mean()


def test_max_norm_keeps_every_weight_row_within_the_bound(make_cfg):
    overrides = ("optimizer.lr=2.0", "trainer.max_epochs=2", "model.hidden=[16]")
    free, _ = fit(make_cfg, *overrides)
    assert max(float(layer.weight.detach().norm(dim=1).max()) for layer in linears(free)) > 0.5
    bounded, _ = fit(make_cfg, "regularizer=[max_norm]", "callbacks.max_norm.max_norm=0.5", *overrides)
    assert all(float(layer.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-5 for layer in linears(bounded))


def test_adversarial_examples_raise_the_loss_over_the_clean_batch(make_cfg):
    datamodule, task, _ = build(make_cfg(*QUICK, "regularizer=[adversarial]"))
    inputs, targets = datamodule.splits["train"]
    clean = task.loss_fn(task.model(inputs), targets)
    perturbed = fgsm(task.model, task.loss_fn, inputs, targets, task.adversarial_epsilon)
    assert (perturbed - inputs).abs().max() == pytest.approx(0.1)
    assert task.loss_fn(task.model(perturbed), targets) > clean


def test_label_smoothing_keeps_a_confident_correct_prediction_from_zero_loss(make_cfg):
    _, smooth, _ = build(make_cfg(*QUICK, "regularizer=[label_smoothing]"))
    _, plain, _ = build(make_cfg(*QUICK))
    logits, targets = torch.tensor([[20.0, 0.0, 0.0]]), torch.tensor([0])
    assert plain.loss_fn(logits, targets) < 1e-6 < smooth.loss_fn(logits, targets)


def test_gradient_clipping_by_value_bounds_every_step(make_cfg):
    overrides = ("optimizer.lr=1.0", "trainer.max_epochs=1", "dataset.batch_size=full")  # one step
    _, start, _ = build(make_cfg(*QUICK, *overrides))
    before = [layer.weight.detach().clone() for layer in linears(start)]
    free, _ = fit(make_cfg, *overrides)
    clipped, _ = fit(make_cfg, "trainer.gradient_clip_algorithm=value", "trainer.gradient_clip_val=0.001", *overrides)
    assert max(float((layer.weight - w).abs().max()) for layer, w in zip(linears(free), before, strict=False)) > 0.01
    assert (
        max(float((layer.weight - w).abs().max()) for layer, w in zip(linears(clipped), before, strict=False))
        <= 0.001 + 1e-7
    )


# -- losses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "loss"),
    [
        (("dataset=iris",), nn.CrossEntropyLoss),
        (("dataset=breast_cancer",), nn.BCEWithLogitsLoss),
        (("dataset=sine", "model=lstm", "model.hidden_size=8"), nn.MSELoss),
        (("dataset=sine", "model=lstm", "model.hidden_size=8", "loss=huber"), nn.HuberLoss),
        (("dataset=breast_cancer", "loss=mse"), SquaredError),  # a sigmoid unit on 0/1 targets
        (("dataset=breast_cancer", "loss=mse", "output.unit=linear"), nn.MSELoss),
    ],
)
def test_the_loss_follows_the_data_unless_named(make_cfg, overrides, loss):
    _, task, _ = build(make_cfg(*QUICK, *overrides))
    assert type(task.loss_fn) is loss


# -- what bad input gets -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (("regularizer=[l2]", "penalty.l2=-0.1"), "penalty.l2=-0.1 must be a weight >= 0"),
        (("optimizer=momentum", "optimizer.momentum=1.0"), "optimizer.momentum=1.0 must be a number in [0, 1)"),
        (("optimizer=nesterov", "optimizer.momentum=0"), "Nesterov momentum requires a momentum"),
        (
            ("optimizer=adam", "optimizer.weight_decay=-1"),
            "optimizer.weight_decay=-1 must be a number >= 0",
        ),
        (
            ("regularizer=[early_stopping]", "callbacks.early_stopping.patience=0"),
            "patience=0 must be a whole number of epochs >= 1",
        ),
        (
            ("regularizer=[adversarial]", "task.adversarial_epsilon=-0.1"),
            "task.adversarial_epsilon=-0.1 must be an epsilon >= 0",
        ),
        (("regularizer=[activity_l1]", "model.hidden=[]"), "regularizer=activity_l1 needs hidden layers"),
        (("regularizer=[dropout]", "model=perceptron"), "regularizer=dropout cannot apply to model perceptron"),
        (("regularizer=[batchnorm]", "model=perceptron"), "regularizer=batchnorm cannot apply to model perceptron"),
        (("regularizer=[augment]",), "dataset.augment is set for dataset iris, which has no images"),
        (("regularizer=[max_norm]", "callbacks.max_norm.max_norm=0"), "max_norm=0 must be a number > 0"),
        (("loss=mse",), "loss=mse compares one output with one target"),
        (("dataset=sine", "model=lstm", "loss=cross_entropy"), "loss=cross_entropy needs class labels"),
    ],
)
def test_bad_values_fail_before_training_in_one_sentence(make_cfg, overrides, words):
    with pytest.raises(ConfigError) as error:
        build(make_cfg(*QUICK, *overrides))
    message = str(error.value)
    assert words in message
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message), f"one sentence: {message}"


def test_cfg_job_shows_exactly_what_each_regularizer_changed(tmp_path):
    def composed(*args: str) -> dict[str, object]:
        result = run_cli(*args, "--cfg", "job", cwd=tmp_path)
        assert result.returncode == 0, result.stderr

        def leaves(node: object, prefix: str = "") -> dict[str, object]:
            if isinstance(node, dict):
                return {k: v for key, value in node.items() for k, v in leaves(value, f"{prefix}{key}.").items()}
            return {prefix.rstrip("."): node}

        return leaves(yaml.safe_load(result.stdout))

    plain, regularized = composed(), composed("regularizer=[l2,dropout]")
    changed = {key for key in plain.keys() | regularized.keys() if plain.get(key) != regularized.get(key)}
    assert changed == {"penalty.l2", "model.dropout"}
    assert regularized["penalty.l2"] == 0.0001 and regularized["model.dropout"] == 0.5
    bad = run_cli("regularizer=[l2]", "penalty.l2=-1", "trainer.max_epochs=1", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: penalty.l2=-1")
