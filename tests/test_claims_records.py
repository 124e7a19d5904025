"""The records the experiments' verdicts stand on: `epochs_to_criterion` survives the test phase, the
perceptron rule's monitored loss cannot pick a wrong model, `dataset=encoder` is the 1986 encoder,
and `sweep=lr` really has a rate that is too big."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from dlbench.run import train
from dlbench.training.perceptron_rule import PerceptronCriterion

QUICK = ("logger=[]", "callbacks.pictures=null")


def _summary(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())


def test_epochs_to_criterion_is_kept_when_the_best_checkpoint_comes_before_it(make_cfg) -> None:
    """best.ckpt is the worst-accuracy epoch here (monitor val/acc, mode min): the test phase reloads
    it, and with it the criterion's state from before the criterion was met. The record keeps the
    epoch it was met (it was null before the fix)."""
    cfg = make_cfg(
        "dataset=logic_or", "model=perceptron", "loss=sse", "optimizer.lr=2.0", "criterion=within",
        "task.tolerance=0.3", "callbacks.criterion.stop=false", "trainer.max_epochs=60",
        "monitor=val/acc", "monitor_mode=min", *QUICK,
    )  # fmt: skip
    train(cfg)
    summary = _summary(cfg)
    accuracies = [row["val/acc"] for row in summary["history"]]
    met = accuracies.index(1.0) + 1  # the first epoch with every output within 0.3
    assert summary["best"]["epoch"] + 1 < met, "the set-up must put best.ckpt before the criterion"
    assert summary["metrics"]["test"]["acc"] < 1.0  # the test phase did run on the earlier checkpoint
    assert summary["epochs_to_criterion"] == met
    assert summary["epochs_run"] == 60  # stop=false: recorded, training went on


def test_the_perceptron_criterion_is_zero_only_when_every_example_is_right() -> None:
    """A misclassified point exactly on the boundary (logit 0, target 1) gave a criterion of 0, so
    best.ckpt could be a wrong model; the mistakes now count, and the rule's update is unchanged."""
    criterion = PerceptronCriterion()
    targets = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
    on_boundary = torch.tensor([[-1.0], [-1.0], [-1.0], [0.0]], requires_grad=True)  # AND, last one wrong
    loss = criterion(on_boundary, targets)
    assert loss.item() >= 1.0
    loss.backward()
    assert on_boundary.grad is not None and on_boundary.grad.tolist() == [[0.0], [0.0], [0.0], [-1.0]]
    right = torch.tensor([[-1.0], [-2.0], [-0.5], [0.5]])
    assert criterion(right, targets).item() == 0.0


def test_a_perceptron_runs_monitored_loss_is_zero_only_on_all_right_epochs(make_cfg) -> None:
    cfg = make_cfg(
        "model=perceptron", "optimizer=perceptron_rule", "dataset=logic_and", "dataset.batch_size=1",
        "trainer.max_epochs=12", *QUICK,
    )  # fmt: skip
    train(cfg)
    summary = _summary(cfg)
    for row in summary["history"]:
        assert (row["val/loss"] == 0.0) == (row["val/acc"] == 1.0), row
        assert row["val/loss"] >= 1.0 - row["val/acc"] - 1e-6, row  # at least the share of mistakes
    assert summary["metrics"]["test"]["acc"] == 1.0  # the best checkpoint gets every pattern right


def test_the_encoder_dataset_is_n_one_hot_patterns_trained_and_tested_on_all(make_cfg) -> None:
    from dlbench.run import build

    datamodule, task, _ = build(make_cfg("dataset=encoder", "model.hidden=[3]", *QUICK))
    datamodule.setup("fit")
    spec = datamodule.spec
    assert spec.name == "encoder" and spec.input_shape == (8,) and spec.num_outputs == 8 and spec.kind == "multiclass"
    for split in ("train", "val", "test"):
        inputs, targets = datamodule.splits[split]
        assert torch.equal(inputs, torch.eye(8)) and targets.tolist() == list(range(8)), split
    widths = [module.out_features for module in task.model.modules() if isinstance(module, torch.nn.Linear)]
    assert widths == [3, 8]  # the 8-3-8 encoder


@pytest.mark.slow
def test_the_lr_sweeps_largest_rate_is_really_too_big(make_cfg, tmp_path: Path) -> None:
    """configs/sweep/lr.yaml says its largest rate is too big: on its own problem (the default Iris
    MLP, 100 epochs) that rate's best validation loss is worse than the next rate's, 10 times smaller."""
    from dlbench.config.compose import CONFIGS
    from dlbench.experiments.catalog import sweep_values

    sweep = yaml.safe_load((CONFIGS / "sweep" / "lr.yaml").read_text())
    rates = sorted(
        float(rate) for rate in sweep_values("optimizer.lr", sweep["hydra"]["sweeper"]["params"]["optimizer.lr"])
    )
    best = {}
    for rate in rates[-2:]:
        cfg = make_cfg(f"optimizer.lr={rate:g}", *QUICK, output_dir=tmp_path / f"{rate:g}")
        train(cfg)
        best[rate] = _summary(cfg)["best"]["value"]
    assert best[rates[-1]] > 2 * best[rates[-2]], best


def test_the_geometric_mean_of_sampled_predictions_is_normalised() -> None:
    from dlbench.callbacks.dropout_ensemble import geometric_mean_log_probs

    same = torch.log_softmax(torch.tensor([[1.0, 2.0, 0.5]]), dim=-1)
    assert torch.allclose(geometric_mean_log_probs(torch.stack([same, same])), same)
    two = torch.log(torch.tensor([[[0.9, 0.1]], [[0.1, 0.9]]]))  # sqrt(0.09) each, renormalised: 1/2, 1/2
    assert torch.allclose(geometric_mean_log_probs(two).exp(), torch.tensor([[0.5, 0.5]]))


def test_dropout_ensemble_logs_the_scaled_net_and_the_sampled_ensemble(make_cfg) -> None:
    """The weight-scaled net is the evaluation-mode net the task tests: its NLL is test/loss."""
    cfg = make_cfg(
        "dataset=digits", "model.hidden=[32]", "model.dropout=0.5", "trainer.max_epochs=2",
        "+callbacks.dropout_ensemble._target_=dlbench.callbacks.dropout_ensemble.DropoutEnsemble",
        "+callbacks.dropout_ensemble.samples=20", *QUICK,
    )  # fmt: skip
    train(cfg)
    test = _summary(cfg)["metrics"]["test"]
    assert test["scaled_nll"] == pytest.approx(test["loss"], rel=1e-4)
    assert test["scaled_acc"] == pytest.approx(test["acc"], abs=1e-6)
    assert 0.5 < test["ensemble_acc"] <= 1.0 and test["ensemble_nll"] > 0
