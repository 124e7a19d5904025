"""Pictures that read right, checked on what was drawn (the artists' data), not on pixels."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import PathCollection, PolyCollection

from dlbench.diagnostics.drawing import decision_surface, training_curves
from dlbench.records.summary import Summary
from dlbench.reporting.comparison import Job
from dlbench.reporting.plots import validation_curves
from dlbench.reporting.seed_plots import draw_setting_curves, metric_range
from dlbench.reporting.seeds import Setting


def job(number: int, accs: list[float], losses: list[float]) -> Job:
    history = [
        {"epoch": float(epoch), "val/acc": acc, "val/loss": loss}
        for epoch, (acc, loss) in enumerate(zip(accs, losses, strict=True))
    ]
    return Job(number, Path(f"/nowhere/{number}"), {"seed": str(number)}, Summary(status="completed", history=history))


def seeds() -> Setting:
    """Three seeds far apart near the ends of the range, one of them stopping after epoch 2."""
    return Setting(
        {"optimizer.lr": "0.1"},
        [
            job(0, [0.5, 0.99, 1.0, 1.0, 1.0], [0.9, 0.05, 0.01, 0.0, 0.0]),
            job(1, [0.3, 0.4, 0.5, 0.9, 1.0], [1.5, 1.2, 0.9, 0.2, 0.01]),
            job(2, [0.2, 0.98, 1.0], [2.0, 0.02, 0.0]),  # stopped early
        ],
    )


def band_values(axis: plt.Axes) -> np.ndarray:
    return np.concatenate(
        [poly.get_paths()[0].vertices[:, 1] for poly in axis.collections if isinstance(poly, PolyCollection)]
    )


def test_seed_bands_stay_within_what_the_metric_can_be() -> None:
    assert metric_range("val/acc") == (0.0, 1.0) and metric_range("train/loss")[0] == 0.0
    for metric, (low, high) in (("val/acc", (0.0, 1.0)), ("val/loss", (0.0, np.inf))):
        figure, axis = plt.subplots()
        draw_setting_curves(axis, [seeds()], metric, marker=None)
        values = band_values(axis)
        assert len(values) and values.min() >= low and values.max() <= high, (metric, values.min(), values.max())
        plt.close(figure)


def test_a_seed_that_ends_early_is_marked_where_it_ends() -> None:
    figure, axis = plt.subplots()
    draw_setting_curves(axis, [seeds()], "val/acc", marker=None)
    (marks,) = [item for item in axis.collections if isinstance(item, PathCollection)]
    assert marks.get_offsets().tolist() == [[2.0, 1.0]]  # seed 2's last epoch and value
    assert "last epoch" in marks.get_label()
    plt.close(figure)


def test_the_sweep_legend_is_beside_the_curves_and_epoch_ticks_are_whole(tmp_path: Path) -> None:
    jobs = [job(index, [0.5, 0.6], [0.9, 0.8]) for index in range(8)]
    for index, item in enumerate(jobs):
        item.overrides = {"optimizer.lr": str(0.01 * (index + 1))}
    captured: dict[str, plt.Figure] = {}
    original = plt.close
    plt.close = lambda figure=None: captured.setdefault("figure", figure)  # keep the figure to look at
    try:
        validation_curves(tmp_path, jobs, ["optimizer.lr"])
    finally:
        plt.close = original
    figure = captured["figure"]
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes:
        assert all(float(tick).is_integer() for tick in axis.get_xticks())
    legend = figure.axes[-1].get_legend()
    assert legend is not None
    box, panel = legend.get_window_extent(renderer), figure.axes[-1].get_window_extent(renderer)
    assert box.x0 >= panel.x1, "the legend covers the curves"
    plt.close(figure)


def test_two_epoch_curves_have_whole_epoch_ticks() -> None:
    figure = training_curves([{"epoch": 0.0, "train/loss": 1.0}, {"epoch": 1.0, "train/loss": 0.5}])
    for axis in figure.axes:
        assert all(float(tick).is_integer() for tick in axis.get_xticks())


def test_the_xor_surface_colours_each_class_and_does_not_call_0_1_inputs_standardised() -> None:
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    targets = torch.tensor([[0.0], [1.0], [1.0], [0.0]])

    def predict(grid: torch.Tensor) -> torch.Tensor:
        return (grid[:, :1] - 0.5) * (grid[:, 1:] - 0.5) * -20

    figure = decision_surface(predict, points, targets, "binary", 1)
    (axis, *_) = figure.axes
    drawn = [item for item in axis.collections if isinstance(item, PathCollection)]
    colours = {item.get_label(): tuple(item.get_facecolor()[0]) for item in drawn}
    assert set(colours) == {"class 0", "class 1"} and colours["class 0"] != colours["class 1"]
    by_class = {item.get_label(): sorted(map(tuple, item.get_offsets().tolist())) for item in drawn}
    assert by_class["class 1"] == [(0.0, 1.0), (1.0, 0.0)]
    assert "standardised" not in axis.get_xlabel() + axis.get_ylabel()


def test_the_decision_surface_shows_the_tested_weights_not_the_last_ones(make_cfg, tmp_path: Path, monkeypatch) -> None:
    """The summary's test metrics are best.ckpt's; so is the surface. "Best" here is the highest training
    loss (epoch 0), so the best and the last weights surely differ."""
    import json

    import dlbench.callbacks.pictures as pictures
    from dlbench.config.plan import plain
    from dlbench.data.spec import DataSpec
    from dlbench.models import build_model
    from dlbench.run import train
    from dlbench.run.checkpoints import load_checkpoint

    drawn: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = pictures.drawing.decision_surface

    def spy(predict, points, targets, *args, **kwargs):
        grid = torch.tensor([[0.1, -0.2], [1.5, 0.3], [-1.0, 1.0]])
        drawn.append((grid, predict(grid).detach().cpu()))
        return original(predict, points, targets, *args, **kwargs)

    monkeypatch.setattr(pictures.drawing, "decision_surface", spy)
    overrides = (
        "dataset=moons",
        "trainer.max_epochs=4",
        "monitor=train/loss",
        "monitor_mode=max",
        "callbacks.pictures.draw=[decision_surface]",
    )
    cfg = make_cfg(*overrides)
    model_cfg = {key: value for key, value in plain(cfg)["model"].items() if key != "name"}
    train(cfg)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_epoch"] != summary["epochs_run"] - 1, "the last epoch was the best: nothing to tell apart"
    ((grid, seen),) = drawn  # drawn once, after the test
    state = load_checkpoint(summary["checkpoints"]["best"])["state_dict"]
    network = build_model(model_cfg, DataSpec(name="moons", input_shape=(2,), num_outputs=1, kind="binary"))
    network.load_state_dict({key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")})
    network.eval()
    with torch.inference_mode():  # the checkpoint's tensors were saved from inference mode
        assert torch.allclose(seen, network(grid), atol=1e-5)
