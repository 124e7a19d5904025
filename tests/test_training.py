"""Each training option has the effect the course notes describe: tiny real runs on Iris."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict
from torch import nn

from conftest import run_cli
from dlbench.errors import ConfigError
from dlbench.run import build, train
from dlbench.training.initializers import training_inputs
from dlbench.training.optim import make_optimizer, scale_learning_rate
from dlbench.training.regularizers import fgsm
from dlbench.training.schedulers import warmup

QUICK = ("logger=[]", "callbacks.model_summary=null", "callbacks.model_checkpoint=null")


def fit(make_cfg, *overrides: str):
    """Build and fit a run; return the task (model + history) and the trainer."""
    datamodule, task, trainer = build(make_cfg(*QUICK, *overrides))
    trainer.fit(task, datamodule=datamodule)
    return task, trainer


def linears(task) -> list[nn.Linear]:
    return [m for m in task.model.modules() if isinstance(m, nn.Linear)]


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


def test_lsuv_gives_unit_output_variance_per_layer_on_its_batch(make_cfg):
    datamodule, task, _ = build(make_cfg(*QUICK, "initializer=lsuv", "model.hidden=[32,16]"))
    batch = training_inputs(datamodule, 256)
    outputs = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: outputs.append(out.var().item())) for layer in linears(task)]
    task.model.eval()
    with torch.no_grad():
        task.model(batch)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 3
    assert all(abs(variance - 1.0) < 0.05 for variance in outputs), outputs


# -- optimizers ---------------------------------------------------------------------------------
def _two_steps(make_cfg, name: str) -> list[torch.Tensor]:
    torch.manual_seed(0)
    layer = nn.Linear(3, 1)
    start = layer.weight.detach().clone()
    optimizer = make_optimizer(make_cfg(f"optimizer={name}").optimizer)(layer.parameters())
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


def test_linear_scaling_multiplies_the_rate_by_batch_over_reference(make_cfg):
    cfg = make_cfg("optimizer.scale_lr_with_batch=true", "optimizer.reference_batch=32", "dataset.batch_size=16")
    datamodule, task, trainer = build(cfg)
    assert task.lr == pytest.approx(0.1 * 16 / 32)
    assert task.configure_optimizers().param_groups[0]["lr"] == pytest.approx(0.05)


# -- schedulers ---------------------------------------------------------------------------------
def test_plateau_divides_the_rate_when_validation_loss_flattens(make_cfg):
    # a rate so small the validation loss cannot move: a plateau from the first epoch
    task, _ = fit(make_cfg, "scheduler=plateau", "scheduler.patience=1", "optimizer.lr=1e-6", "trainer.max_epochs=4")
    rates = [row["lr"] for row in task.history]
    assert rates[0] == pytest.approx(1e-6)
    assert rates[-1] == pytest.approx(1e-7)


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
def test_l1_leaves_more_near_zero_weights_than_no_penalty(make_cfg):
    def near_zero(*overrides: str) -> int:
        task, _ = fit(make_cfg, "model.hidden=[32]", "trainer.max_epochs=15", *overrides)
        return sum(int((layer.weight.abs() < 0.01).sum()) for layer in linears(task))

    plain, sparse = near_zero(), near_zero("regularizer=[l1]", "penalty.l1=0.01")
    assert sparse > plain


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


def test_early_stopping_stops_patience_epochs_after_the_best(make_cfg):
    cfg = make_cfg("regularizer=[early_stopping]", "callbacks.early_stopping.patience=2", "callbacks.early_stopping.min_delta=0.01", "optimizer.lr=1e-6", "trainer.max_epochs=20")
    train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())
    assert summary["epochs_run"] == 3  # best at epoch 0, then 2 epochs without an improvement of 0.01
    assert summary["stop_reason"].startswith("early stopping at epoch 2")


def test_max_norm_keeps_every_weight_row_within_the_bound(make_cfg):
    overrides = ("optimizer.lr=2.0", "trainer.max_epochs=2", "model.hidden=[16]")
    free, _ = fit(make_cfg, *overrides)
    assert max(float(layer.weight.norm(dim=1).max()) for layer in linears(free)) > 0.5
    bounded, _ = fit(make_cfg, "regularizer=[max_norm]", "callbacks.max_norm.max_norm=0.5", *overrides)
    assert all(float(layer.weight.norm(dim=1).max()) <= 0.5 + 1e-5 for layer in linears(bounded))


def test_adversarial_examples_raise_the_loss_over_the_clean_batch(make_cfg):
    datamodule, task, _ = build(make_cfg(*QUICK, "regularizer=[adversarial]"))
    inputs, targets = datamodule.splits["train"]
    clean = task.loss_fn(task.model(inputs), targets)
    perturbed = fgsm(task.model, task.loss_fn, inputs, targets, task.adversarial_epsilon)
    assert (perturbed - inputs).abs().max() == pytest.approx(0.1)
    assert task.loss_fn(task.model(perturbed), targets) > clean


def test_input_noise_and_weight_noise_perturb_training_only(make_cfg):
    task, _ = fit(make_cfg, "regularizer=[input_noise,weight_noise,label_smoothing,activity_l1]", "task.input_noise=0.5", "trainer.max_epochs=2")
    row = task.history[-1]
    assert row["train/penalty"] > 0  # activity_l1
    assert task.input_noise == 0.5 and task.loss_fn.label_smoothing == 0.1
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    task.metrics["val_metrics"].reset()
    task.model.eval()
    task._step("val", (x, y))
    first = task.metrics["val_metrics"]["data_loss"].compute()
    task.metrics["val_metrics"].reset()
    task._step("val", (x, y))
    assert task.metrics["val_metrics"]["data_loss"].compute() == first  # evaluation sees clean inputs


def test_label_smoothing_keeps_a_confident_correct_prediction_from_zero_loss(make_cfg):
    _, smooth, _ = build(make_cfg(*QUICK, "regularizer=[label_smoothing]"))
    _, plain, _ = build(make_cfg(*QUICK))
    logits, targets = torch.tensor([[20.0, 0.0, 0.0]]), torch.tensor([0])
    assert plain.loss_fn(logits, targets) < 1e-6 < smooth.loss_fn(logits, targets)


# -- what bad input gets -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (("regularizer=[l2]", "penalty.l2=-0.1"), "lambda < 0"),
        (("optimizer=momentum", "optimizer.momentum=1.0"), "outside [0, 1)"),
        (("regularizer=[early_stopping]", "callbacks.early_stopping.patience=0"), "patience=0"),
        (("regularizer=[adversarial]", "task.adversarial_epsilon=-0.1"), "epsilon < 0"),
        (("regularizer=[activity_l1]", "model.hidden=[]"), "needs hidden layers"),
        (("regularizer=[augment]",), "regularizer=augment cannot apply"),
    ],
)
def test_bad_values_fail_before_training_in_one_sentence(make_cfg, overrides, words):
    with pytest.raises(ConfigError, match=None) as error:
        build(make_cfg(*QUICK, *overrides))
    message = str(error.value)
    assert words in message and message.count(". ") == 0 and message.endswith(".")


def test_dropout_on_a_model_without_dropout_names_the_regularizer(make_cfg):
    cfg = make_cfg(*QUICK, "regularizer=[dropout]")
    with open_dict(cfg):
        cfg.model = {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 3, "dropout": 0.5}
    with pytest.raises(ConfigError, match="regularizer=dropout cannot apply to model linear"):
        build(cfg)


def test_cfg_job_shows_exactly_what_each_regularizer_changed(tmp_path):
    result = run_cli("regularizer=[l2,dropout]", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "l2: 0.0001" in result.stdout and "dropout: 0.5" in result.stdout
    bad = run_cli("regularizer=[l2]", "penalty.l2=-1", "trainer.max_epochs=1", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: penalty.l2=-1")
