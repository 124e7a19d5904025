"""Output units in real runs: the learned variance follows the noise, the mixture finds Bishop's
branches, dice segments the shapes, the 1986 criterion stops training; every new option through
`dlbench.run.train` with the other groups, and refused from the command line in one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dlbench.data.regression import InverseSine
from dlbench.errors import ConfigError
from dlbench.run import build, train
from helpers import run_cli

QUICK = ("logger=[]", "callbacks.model_summary=null", "callbacks.model_checkpoint=null", "callbacks.pictures=null")
MLP = ("model=mlp", "model.hidden=[32,32]", "model.activation=tanh", "optimizer=adam", "optimizer.lr=0.01")


def fit(make_cfg, *overrides: str, output_dir: Path | None = None):
    datamodule, task, trainer = build(make_cfg(*QUICK, *overrides, output_dir=output_dir))
    trainer.fit(task, datamodule=datamodule)
    task.model.eval()
    return datamodule, task


def summary_of(cfg) -> dict:
    return json.loads((Path(cfg.paths.output_dir) / "summary.json").read_text())


# -- the Gaussian output ---------------------------------------------------------------------------
def test_a_fixed_variance_of_one_half_trains_exactly_as_mse(make_cfg, tmp_path):
    """The notes' Gaussian row: with its variance fixed, the Gaussian likelihood is MSE."""
    runs = {}
    for loss in ("loss=mse", "loss=gaussian_nll"):
        _, task = fit(
            make_cfg, "dataset=heteroscedastic", "dataset.batch_size=full", *MLP, "trainer.max_epochs=5", loss,
            "output.variance=0.5", output_dir=tmp_path / loss,
        )  # fmt: skip
        runs[loss] = torch.cat([p.detach().flatten() for p in task.model.parameters()])
    assert runs["loss=mse"].shape == runs["loss=gaussian_nll"].shape  # one output: the variance is not learned
    assert torch.allclose(runs["loss=mse"], runs["loss=gaussian_nll"], atol=1e-6)


@pytest.mark.slow
def test_the_learned_variance_follows_the_true_noise(make_cfg):
    datamodule, task = fit(
        make_cfg, "dataset=heteroscedastic", "dataset.batch_size=full", *MLP, "optimizer.lr=0.02", "loss=gaussian_nll",
        "trainer.max_epochs=300", "trainer.check_val_every_n_epoch=100",
    )  # fmt: skip
    x = torch.linspace(0.05, 0.95, 10).reshape(-1, 1)
    with torch.no_grad():
        _, variance = task.loss_fn.mean_and_variance(task.model(x))
    learned, true = variance.sqrt().reshape(-1), datamodule.noise_std(x).reshape(-1)
    assert (learned - true).abs().mean() < 0.04, (learned, true)
    assert learned[-1] > 4 * learned[0]  # the true noise grows from 0.07 to 0.48


# -- the mixture density network ------------------------------------------------------------------
@pytest.mark.slow
def test_the_mixture_recovers_the_three_branches_that_mse_averages(make_cfg, tmp_path):
    common = ("dataset=inverse_sine", "dataset.batch_size=full", *MLP, "trainer.max_epochs=1000")
    common += ("trainer.check_val_every_n_epoch=100",)
    _, mdn = fit(make_cfg, *common, "loss=mdn", output_dir=tmp_path / "mdn")
    _, gaussian = fit(make_cfg, *common, "loss=gaussian_nll", output_dir=tmp_path / "gaussian")

    def best(task) -> float:  # full-batch Adam wobbles: compare the best validation NLL of each
        return min(row["val/loss"] for row in task.history if "val/loss" in row)

    assert best(mdn) < best(gaussian) - 0.3  # nats per example
    with torch.no_grad():
        log_pi, mu, _ = mdn.loss_fn.parameters_of(mdn.model(torch.tensor([[0.5]])))
        gaussian_mean = gaussian.loss_fn.predict(gaussian.model(torch.tensor([[0.45]]))).item()
    active = mu[0, log_pi[0].exp() > 0.1, 0]
    for branch in InverseSine.branches(0.5):  # 0.21, 0.5, 0.79
        assert (active - branch).abs().min() < 0.07, (branch, active)
    # the single Gaussian's mean at x = 0.45 lies between branches, on none of them
    assert min(abs(gaussian_mean - branch) for branch in InverseSine.branches(0.45)) > 0.05


# -- pixel classification -------------------------------------------------------------------------
SHAPES = ("dataset=shapes", "dataset.size=24", "dataset.num_samples=400", "model=encoder_decoder", "optimizer=adam")


@pytest.mark.slow
def test_dice_segments_the_shapes_to_a_dice_of_point_six_in_twelve_epochs(make_cfg):
    """The stated score: a soft-dice-trained encoder-decoder reaches val dice >= 0.6 (measured 0.67 at 10
    epochs outside Lightning) in a short CPU run on 240 training images of 24x24."""
    _, task = fit(make_cfg, *SHAPES, "optimizer.lr=0.01", "loss=dice", "trainer.max_epochs=12")
    row = task.history[-1]
    assert row["val/dice"] >= 0.6, row
    assert 0 < row["val/iou"] < row["val/dice"] <= 1  # IoU = dice / (2 - dice) per class
    assert row["val/acc"] > 0.9


# -- the 1986 criterion ---------------------------------------------------------------------------
def test_criterion_stops_training_and_records_the_epochs_it_took(make_cfg):
    cfg = make_cfg(
        "dataset=logic_or", "model=perceptron", "loss=sse", "optimizer.lr=2.0", "criterion=within",
        "task.tolerance=0.3", "trainer.max_epochs=500", "logger=[]", "callbacks.pictures=null",
    )  # fmt: skip
    train(cfg)
    summary = summary_of(cfg)
    reached = summary["epochs_to_criterion"]
    assert reached is not None and reached == summary["epochs_run"] < 500
    assert summary["history"][-1]["val/acc"] == 1.0 and summary["history"][-2]["val/acc"] < 1.0
    assert summary["criterion"] == {"metric": "val/acc", "value": 1.0, "mode": "max", "stop": True}
    assert "criterion met: val/acc" in summary["stop_reason"]


def test_a_criterion_never_met_is_null_and_no_criterion_is_null_too(make_cfg, tmp_path):
    never = make_cfg(
        "dataset=xor", "model=perceptron", "loss=sse", "criterion=all_correct", "trainer.max_epochs=5", "logger=[]",
        output_dir=tmp_path / "never",
    )  # fmt: skip
    train(never)
    assert summary_of(never)["epochs_to_criterion"] is None and summary_of(never)["epochs_run"] == 5
    plain = make_cfg("dataset=xor", "trainer.max_epochs=2", "logger=[]", output_dir=tmp_path / "plain")
    train(plain)
    assert summary_of(plain)["criterion"] is None and summary_of(plain)["epochs_to_criterion"] is None


# -- every new option with the other groups, through the whole run ------------------------------------
PAIRS = [
    ("dataset=heteroscedastic", "loss=gaussian_nll", "optimizer=rmsprop", "initializer=xavier_uniform",
     "regularizer=[l2,dropout]", "scheduler=cosine"),
    ("dataset=inverse_sine", "loss=mdn", "output.components=3", "optimizer=nesterov", "initializer=orthogonal",
     "regularizer=[input_noise,max_norm]", "callbacks.pictures.draw=[fit]"),
    # the segmentation runs train a convolutional encoder-decoder: the slow tier
    pytest.param((*SHAPES[:4], "loss=wasserstein_dice", "optimizer=adamw", "initializer=he_normal",
                  "regularizer=[early_stopping]", "callbacks.pictures.draw=[segmentation]"), marks=pytest.mark.slow),
    pytest.param((*SHAPES[:4], "dataset.binary=true", "loss=dice", "optimizer=momentum", "initializer=lsuv",
                  "regularizer=[weight_noise]", "logger=[csv]"), marks=pytest.mark.slow),
    pytest.param((*SHAPES[:4], "loss=cross_entropy", "regularizer=[label_smoothing,adversarial]", "model.skips=false"),
                 marks=pytest.mark.slow),
    ("dataset=mirror_symmetry", "model.hidden=[2]", "model.activation=sigmoid", "loss=sse", "optimizer=momentum",
     "initializer=uniform", "initializer.bias=scheme", "criterion=within", "regularizer=[l1]"),
]  # fmt: skip


def _loss_id(overrides: object) -> str:
    values = overrides.values[0] if hasattr(overrides, "values") else overrides
    return "-".join(x.split("=")[1] for x in values if "loss=" in x)


@pytest.mark.parametrize("overrides", PAIRS, ids=_loss_id)
def test_each_output_unit_runs_with_the_other_groups(make_cfg, overrides):
    cfg = make_cfg(*overrides, "trainer.max_epochs=2", "callbacks.model_summary=null")
    train(cfg)
    summary = summary_of(cfg)
    assert summary["status"] == "completed", summary["stop_reason"]
    assert all(isinstance(value, float) for value in summary["metrics"]["test"].values())
    pictures = Path(cfg.paths.output_dir) / "pictures"
    for name in ("fit", "segmentation"):
        if f"draw=[{name}]" in " ".join(overrides):
            assert (pictures / f"{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_an_output_unit_logs_to_wandb_offline(make_cfg, no_account):
    cfg = make_cfg("dataset=inverse_sine", "loss=mdn", "trainer.max_epochs=2", "logger=[csv,wandb]")
    train(cfg)
    assert summary_of(cfg)["status"] == "completed"
    assert list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (("loss=dice",), "loss=dice scores the overlap of pixel classes, but dataset iris is multiclass"),
        (("dataset=digits", "loss=mdn"), "loss=mdn models a continuous target as a mixture of Gaussians"),
        (("dataset=heteroscedastic", "model=autoencoder", "loss=gaussian_nll"), "model autoencoder rebuilds its input"),
        (("dataset=inverse_sine", "loss=mdn", "output.components=0"), "output.components=0 must be a whole number"),
        (("dataset=shapes", "model=encoder_decoder", "loss=wasserstein_dice", "output.class_distances=[[0,1],[1,0]]"),
         "output.class_distances is 2x2, but the data has 4 classes"),
        (("dataset=shapes",), "dataset shapes wants a class for every pixel of its 1x32x32 images, but model mlp"),
        (("dataset=digits", "model=encoder_decoder"), "model encoder_decoder gives a class for every pixel"),
        (("criterion=within", "task.tolerance=0"), "task.tolerance=0 must be a number > 0, or null"),
    ],
)  # fmt: skip
def test_an_output_unit_that_cannot_fit_is_refused_before_training(make_cfg, overrides, words):
    with pytest.raises(ConfigError) as error:
        build(make_cfg(*QUICK, *overrides))
    assert words in str(error.value)


def test_dice_on_iris_is_refused_from_the_command_line(refuse, tmp_path):
    status, lines = refuse("loss=dice")
    assert status == 2
    assert lines == [
        "error: loss=dice scores the overlap of pixel classes, but dataset iris is multiclass with one target per "
        "example; use loss=auto there, or a segmentation dataset such as dataset=shapes with model=encoder_decoder."
    ]
    assert not (tmp_path / "run" / "summary.json").exists()


def test_a_sweeps_report_shows_epochs_to_criterion_when_its_jobs_had_one(tmp_path):
    from dlbench.records.summary import Summary
    from dlbench.reporting.comparison import Job, table_rows

    def job(number: int, reached: int | None) -> Job:
        summary = Summary(status="completed", criterion={"metric": "val/acc"}, epochs_to_criterion=reached)
        return Job(number, tmp_path / str(number), {"seed": str(number)}, summary)

    columns, rows = table_rows([job(0, 1462), job(1, None)])
    assert "epochs_to_criterion" in columns
    assert [row["epochs_to_criterion"] for row in rows] == [1462, "not met"]
    assert "epochs_to_criterion" not in table_rows([Job(0, tmp_path, {}, Summary(status="completed"))])[0]


@pytest.mark.slow
def test_the_named_comparisons_report_their_numbers(tmp_path):
    """`python train.py -m sweep=segmentation_losses` and `-m sweep=mirror_1986`, cut short: one report row
    per loss with its dice and IoU; one per seed with its epochs to the criterion."""
    import csv

    segmentation = tmp_path / "segmentation"
    result = run_cli(
        "-m", "sweep=segmentation_losses", "trainer.max_epochs=1", "dataset.num_samples=40", "logger=[]",
        f"hydra.sweep.dir={segmentation}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with (segmentation / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["loss"] for row in rows] == ["cross_entropy", "dice", "wasserstein_dice"]
    assert all(0 <= float(row["test/dice"]) <= 1 and 0 <= float(row["test/iou"]) <= 1 for row in rows)
    mirror = tmp_path / "mirror"
    result = run_cli(
        "-m", "sweep=mirror_1986", "seed=0,1", "trainer.max_epochs=3", "logger=[]",
        f"hydra.sweep.dir={mirror}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with (mirror / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epochs_to_criterion"] for row in rows] == ["not met", "not met"]  # 3 sweeps are too few
