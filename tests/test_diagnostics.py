"""Looking inside training: per-layer statistics, pictures, debug runs and the finders, each
through a real Trainer (most through `dlbench.run`, as `python train.py` would run them)."""

from __future__ import annotations

import csv
import functools
import logging
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from PIL import Image
from torch import nn

from dlbench.callbacks.pictures import Pictures
from dlbench.diagnostics.drawing import SIZE
from dlbench.run import build, train
from dlbench.tasks import Task
from helpers import read_summary


def assert_picture(path: Path) -> None:
    """A PNG of the expected size that is not blank."""
    assert path.is_file(), f"{path.name} was not written"
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == SIZE
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.var() > 0, f"{path.name} is blank"


def csv_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as handle:
        return [row for row in csv.DictReader(handle) if row.get("epoch")]


# -- per-layer statistics ------------------------------------------------------------------------
def fit_with_stats(make_cfg, *overrides: str, prepare=None):
    cfg = make_cfg(
        "trainer.max_epochs=2", "callbacks.layer_stats.enabled=true", "callbacks.pictures.enabled=false", *overrides
    )
    datamodule, task, trainer = build(cfg)
    if prepare is not None:
        prepare(task.model)
    trainer.fit(task, datamodule=datamodule)
    return cfg, task


def test_relu_layer_with_very_negative_biases_is_all_dead(make_cfg) -> None:
    def kill(model: nn.Module) -> None:
        with torch.no_grad():
            model.layers[1].bias.fill_(-100.0)

    cfg, task = fit_with_stats(make_cfg, prepare=kill)
    assert [row["dead/layers.2"] for row in task.history] == [1.0, 1.0]
    assert all(row["act_mean/layers.2"] == 0.0 and row["act_std/layers.2"] == 0.0 for row in task.history)
    assert task.history[-1]["grad_norm/layers.1"] == 0.0  # nothing flows back through dead units
    # the numbers reach the logger in the epoch's one row
    rows = csv_rows(Path(cfg.paths.output_dir))
    assert len(rows) == 2 and [float(row["dead/layers.2"]) for row in rows] == [1.0, 1.0]


def test_healthy_relu_layer_statistics(make_cfg) -> None:
    cfg, task = fit_with_stats(make_cfg)
    last = task.history[-1]
    assert 0.0 <= last["dead/layers.2"] < 1.0
    assert last["act_mean/layers.2"] > 0 and last["act_std/layers.2"] > 0
    assert last["grad_norm/layers.1"] > 0 and last["grad_norm/layers.3"] > 0
    # the weight norm logged at the end of the last epoch is the norm of the trained weights
    for name in ("layers.1", "layers.3"):
        weight = task.model.get_submodule(name).weight
        assert last[f"weight_norm/{name}"] == pytest.approx(float(torch.linalg.vector_norm(weight.detach())), rel=1e-5)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_units_are_counted(make_cfg, activation: str) -> None:
    def blow_up(model: nn.Module) -> None:
        with torch.no_grad():
            model.layers[1].weight.mul_(200.0)

    _, plain = fit_with_stats(make_cfg, f"model.activation={activation}", "trainer.max_epochs=1")
    _, saturated = fit_with_stats(make_cfg, f"model.activation={activation}", "trainer.max_epochs=1", prepare=blow_up)
    assert plain.history[0]["saturated/layers.2"] < 0.5
    assert saturated.history[0]["saturated/layers.2"] > 0.9
    assert "dead/layers.2" not in saturated.history[0]  # dead units are a ReLU notion


def test_statistics_are_off_by_default(make_cfg) -> None:
    cfg = make_cfg("trainer.max_epochs=1", "callbacks.pictures.enabled=false")
    train(cfg)
    assert not [key for key in read_summary(cfg.paths.output_dir)["history"][0] if "/layers." in key]


# -- pictures ------------------------------------------------------------------------------------
def test_pictures_of_a_2d_run(make_cfg) -> None:
    cfg = make_cfg(
        "dataset=moons",
        "dataset.num_samples=200",
        "model.hidden=[8,8]",
        "trainer.max_epochs=2",
        "callbacks.pictures.every_n_epochs=1",
    )
    train(cfg)
    pictures = Path(cfg.paths.output_dir) / "pictures"
    for name in ("curves", "decision_surface", "activations"):
        for suffix in ("", "_epoch000", "_epoch001"):
            assert_picture(pictures / f"{name}{suffix}.png")
    assert not (pictures / "filters.png").exists()  # an MLP has none; "auto" skips it silently


def test_picture_that_does_not_apply_is_one_sentence_and_the_run_goes_on(make_cfg, caplog) -> None:
    cfg = make_cfg("trainer.max_epochs=1", "callbacks.pictures.draw=[decision_surface,filters,curves]")
    with caplog.at_level(logging.WARNING, logger="dlbench.callbacks.pictures"):
        train(cfg)
    messages = [record.getMessage() for record in caplog.records if record.name == "dlbench.callbacks.pictures"]
    assert len(messages) == 2
    assert (
        "decision surface needs 2-D inputs" in messages[0] and "(4,)" in messages[0] and "dataset=moons" in messages[0]
    )
    assert "no nn.Conv2d layer" in messages[1]
    assert all(message.count(". ") == 0 for message in messages)  # one sentence each
    assert read_summary(cfg.paths.output_dir)["status"] == "completed"
    pictures = Path(cfg.paths.output_dir) / "pictures"
    assert sorted(path.name for path in pictures.iterdir()) == ["curves.png"]


def test_unknown_picture_name_is_refused_before_training(make_cfg) -> None:
    from dlbench.errors import find_config_error

    cfg = make_cfg("callbacks.pictures.draw=[decision_surfce]")
    with pytest.raises(Exception) as raised:
        build(cfg)
    error = find_config_error(raised.value)
    assert error is not None and "decision_surfce" in str(error) and "decision_surface" in str(error)


class TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class TinyConvAutoencoder(nn.Module):
    reconstructs = True

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@pytest.mark.parametrize(("network", "expected"), [(TinyConvNet, "filters"), (TinyConvAutoencoder, "reconstructions")])
def test_filters_and_reconstructions(make_cfg, tmp_path: Path, network, expected: str) -> None:
    cfg = make_cfg("dataset=digits")
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.setup()
    task = Task(network(), datamodule.spec, optimizer=functools.partial(torch.optim.SGD, lr=0.05))
    pictures = Pictures(tmp_path / "pictures")
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=5,
        limit_val_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[pictures],
    )
    trainer.fit(task, datamodule=datamodule)
    assert_picture(tmp_path / "pictures" / f"{expected}.png")
    assert_picture(tmp_path / "pictures" / "activations.png")
    assert ("filters" in pictures.active) is True  # both have a first convolution
    assert ("reconstructions" in pictures.active) is (expected == "reconstructions")


# -- debug options -------------------------------------------------------------------------------
def test_debug_fast_runs_one_batch_and_still_writes_the_summary(make_cfg) -> None:
    cfg = make_cfg("debug=fast")
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    assert summary["status"] == "completed" and summary["epochs_run"] == 1
    assert summary["checkpoints"]["best"] is None and summary["metrics"]["test"]
    assert not (Path(cfg.paths.output_dir) / "metrics.csv").exists()  # no logger
    assert not list(Path(cfg.paths.output_dir).rglob("*.ckpt"))  # no checkpoint


def test_debug_overfit_learns_one_batch(make_cfg) -> None:
    cfg = make_cfg("debug=overfit", "optimizer.lr=0.5", "callbacks.pictures.enabled=false")
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    assert summary["metrics"]["train"]["loss"] < 0.05
    assert summary["stop_reason"].startswith("early stopping") and summary["epochs_run"] < 1000


def test_debug_profile_writes_its_report(make_cfg) -> None:
    cfg = make_cfg("debug=profile", "trainer.max_epochs=1", "callbacks.pictures.enabled=false")
    train(cfg)
    report = (Path(cfg.paths.output_dir) / "fit-profile.txt").read_text()
    assert "run_training_epoch" in report and "training_step" in report


def test_debug_limit_cuts_batches_and_epochs(make_cfg) -> None:
    cfg = make_cfg("debug=limit", "dataset.batch_size=4", "callbacks.pictures.enabled=false")
    datamodule, task, trainer = build(cfg)
    trainer.fit(task, datamodule=datamodule)
    assert len(task.history) == 3 and trainer.global_step == 3 * 5


def test_debug_anomaly_turns_on_detection_during_training(make_cfg) -> None:
    class Record(pl.Callback):
        seen: list[bool] = []

        def on_train_batch_start(self, *args) -> None:
            self.seen.append(torch.is_anomaly_enabled())

    cfg = make_cfg("debug=anomaly", "trainer.max_epochs=1", "callbacks.pictures.enabled=false")
    datamodule, task, trainer = build(cfg)
    trainer.callbacks.append(Record())
    trainer.fit(task, datamodule=datamodule)
    assert Record.seen and all(Record.seen)
    assert not torch.is_anomaly_enabled()


# -- learning-rate and batch-size finders --------------------------------------------------------
def test_lr_finder_plots_and_applies_its_suggestion(make_cfg, capsys) -> None:
    cfg = make_cfg("tune=lr", "tune.num_training=40", "trainer.max_epochs=1", "callbacks.pictures.enabled=false")
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    found = summary["tuning"]["lr_find"]
    assert 1e-6 <= found["suggestion"] <= 1.0 and found["applied"]
    said = f"Learning-rate finder: suggests lr={found['suggestion']:.3g} (plot: {found['plot']}); training with it"
    assert f"{said} instead of optimizer.lr=0.1." in capsys.readouterr().out, "the applied suggestion is said"
    assert summary["lr"] == found["suggestion"] == summary["config"]["optimizer"]["lr"]
    assert_picture(Path(found["plot"]))
    assert [row["epoch"] for row in summary["history"]] == [0.0]  # the finder's steps are not epochs of the run
    assert not list(Path(cfg.paths.output_dir).glob(".lr_find*.ckpt"))


def test_lr_finder_curve_starts_at_the_real_loss(make_cfg) -> None:
    from pytorch_lightning.tuner import Tuner

    from dlbench.run.tuning import fix_smoothing

    cfg = make_cfg("callbacks.pictures.enabled=false", "logger=[]")
    datamodule, task, trainer = build(cfg)
    with torch.no_grad():
        batch_losses = [float(nn.functional.cross_entropy(task.model(x), y)) for x, y in datamodule.train_dataloader()]
    # rates too small to change the weights: every smoothed point must be an average of batch losses
    finder = Tuner(trainer).lr_find(
        task, datamodule=datamodule, min_lr=1e-10, max_lr=1e-9, num_training=12, update_attr=False
    )
    fix_smoothing(finder)
    losses = finder.results["loss"]
    assert len(losses) == 12
    assert all(min(batch_losses) - 1e-4 <= loss <= max(batch_losses) + 1e-4 for loss in losses), (losses, batch_losses)


def test_lr_suggestion_is_the_steepest_descent_per_decade() -> None:
    from dlbench.run.tuning import steepest_descent

    rates = torch.logspace(-6, 0, 100, dtype=torch.float64)
    # the loss falls fastest around lr = 1e-2; a small wiggle among the tiny rates (noise of a
    # first few batches) is steep against lr itself but not per decade
    losses = 1.0 - 0.8 * torch.sigmoid(3 * (torch.log10(rates) + 2))
    losses[20:23] -= torch.tensor([0.0, 0.002, 0.0], dtype=torch.float64)
    results = {"lr": rates.tolist(), "loss": losses.tolist()}
    assert results["lr"][steepest_descent(results)] == pytest.approx(1e-2, rel=0.2)
    assert steepest_descent({"lr": [1e-3, 1e-2], "loss": [1.0, float("nan")]}) is None  # nothing to choose from


def test_lr_finder_suggestion_survives_linear_lr_scaling(make_cfg) -> None:
    cfg = make_cfg(
        "tune=lr",
        "tune.num_training=20",
        "optimizer.scale_lr_with_batch=true",
        "optimizer.reference_batch=64",
        "trainer.max_epochs=1",
        "callbacks.pictures.enabled=false",
    )
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    suggestion = summary["tuning"]["lr_find"]["suggestion"]
    # the run trains with the suggestion itself; the config's base rate scales back to it (16 / 64)
    assert summary["lr"] == suggestion == summary["history"][0]["lr"]
    assert summary["config"]["optimizer"]["lr"] == pytest.approx(suggestion * 64 / 16)


def test_batch_size_finder_reports_without_applying(make_cfg) -> None:
    cfg = make_cfg(
        "tune=batch_size",
        "tune.apply=false",
        "tune.max_trials=3",
        "trainer.max_epochs=1",
        "callbacks.pictures.enabled=false",
    )
    train(cfg)
    summary = read_summary(cfg.paths.output_dir)
    found = summary["tuning"]["batch_size"]
    # on the CPU nothing runs out of memory: three trials (2, 4, 8) all fit; the run keeps its own batch size
    assert found == {"suggestion": 8, "initial": 16, "applied": False}
    assert summary["effective_batch_size"] == 16 and summary["config"]["dataset"]["batch_size"] == 16


# -- W&B -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_pictures_are_logged_as_wandb_images(make_cfg, no_account: None) -> None:
    """`logger=wandb` as a user without an account runs it: offline, every picture a W&B image."""
    cfg = make_cfg(
        "logger=[csv,wandb]",
        "dataset=moons",
        "dataset.num_samples=100",
        "trainer.max_epochs=2",
        "callbacks.pictures.every_n_epochs=1",
        "tune=lr",
        "tune.num_training=10",
    )
    train(cfg)
    (run,) = sorted((Path(cfg.paths.output_dir) / "wandb").rglob("offline-run-*"))
    media = sorted(path.name for path in (run / "files" / "media" / "images").rglob("*.png"))
    # one image per snapshot (after epochs 0 and 1) plus the final one, for each picture that applies
    for name in ("decision_surface", "curves", "activations"):
        assert len([image for image in media if image.startswith(f"{name}_")]) == 3, media
    assert any(image.startswith("lr_find") for image in media), media
