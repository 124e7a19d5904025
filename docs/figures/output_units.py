"""The figures and numbers of docs/output-units.md, from the run directories of real sweeps.

    python train.py -m sweep=mirror_1986 hydra.sweep.dir=multirun/mirror_1986
    python train.py -m sweep=inverse_mse_vs_mdn hydra.sweep.dir=multirun/inverse
    python train.py -m sweep=segmentation_losses hydra.sweep.dir=multirun/segmentation
    python train.py dataset=heteroscedastic loss=gaussian_nll dataset.batch_size=full optimizer=adam \
        optimizer.lr=0.02 model.hidden=[32,32] model.activation=tanh trainer.max_epochs=300 \
        hydra.run.dir=multirun/heteroscedastic
    python docs/figures/output_units.py multirun

Each model is rebuilt from its run's last checkpoint (which carries the config it was trained
with); nothing here trains. Prints the tables of the page and writes the PNGs next to this file.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dlbench.data.regression import InverseSine
from dlbench.diagnostics import output_drawing
from dlbench.diagnostics.drawing import new_figure, save
from dlbench.models import build_model
from dlbench.tasks.losses import make_loss
from dlbench.tasks.output_units import fit_output

HERE = Path(__file__).parent


def rebuild(run_dir: Path) -> tuple[Any, torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    """(data module, network, loss module, summary) of a finished run, from its last checkpoint."""
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    cfg = OmegaConf.create(checkpoint["dlbench_config"])
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.setup()
    network_spec, output = fit_output(cfg, datamodule.spec)
    model = build_model(cfg.model, network_spec)
    model.load_state_dict(
        {k[len("model.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    )
    model.eval()
    loss = make_loss(str(cfg.loss), datamodule.spec, False, output=output)
    return datamodule, model, loss, json.loads((run_dir / "summary.json").read_text())


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if (p / "summary.json").exists()), key=lambda p: int(p.name))


def mirror(sweep: Path) -> None:
    print("\n## mirror symmetry, 1986 settings")
    print("| seed | epochs to criterion | input weights of the larger hidden unit | w_i + w_7-i | magnitudes |")
    print("|---|---|---|---|---|")
    reached = []
    for run in jobs(sweep):
        _, model, _, summary = rebuild(run)
        epochs = summary["epochs_to_criterion"]
        reached.append(epochs)
        first = model.layers[1].weight.detach()  # (2 hidden, 6 inputs)
        unit = first[first.abs().sum(1).argmax()]
        mirror_sum = (unit[:3] + unit.flip(0)[:3]).abs().max().item()  # 0 when w_i = -w_(7-i)
        sizes = unit[:3].abs().sort().values
        ratio = " : ".join(f"{v / sizes[0]:.2f}" for v in sizes.tolist())
        print(
            f"| {summary['seed']} | {epochs if epochs is not None else 'not in ' + str(summary['epochs_run'])} | "
            f"{' '.join(f'{w:+.2f}' for w in unit.tolist())} | {mirror_sum:.2f} | {ratio} |"
        )
    done = [e for e in reached if e is not None]
    print(f"\nconverged {len(done)}/{len(reached)}; median epochs of those {statistics.median(done) if done else None}")


def inverse(sweep: Path) -> None:
    print("\n## inverse problem")
    print("| loss | test/loss | what the number is |")
    print("|---|---|---|")
    models = []
    for run in jobs(sweep):
        datamodule, model, loss, summary = rebuild(run)
        name = summary["config"]["loss"]
        unit = "MSE" if name == "mse" else "negative log-likelihood, nats per example"
        print(f"| {name} | {summary['metrics']['test']['loss']:.4f} | {unit} |")
        if name in ("mse", "mdn"):
            models.append((name, model, loss))
    x, t = datamodule.splits["train"]

    def truth(grid: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        curve_t = np.linspace(0, 1, 400)
        return [(InverseSine.forward_map(curve_t), curve_t)]

    figure = output_drawing.regression_fits(
        x, t, models, "Bishop's inverse problem: MSE averages the branches, the mixture density network finds them",
        truth,
    )  # fmt: skip
    save(figure, HERE / "inverse_mse_vs_mdn.png")


def heteroscedastic(run: Path) -> None:
    datamodule, model, loss, summary = rebuild(run)
    x, y = datamodule.splits["train"]
    grid = np.linspace(0, 1, 100)

    def truth(_: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        mean, std = np.sin(2 * np.pi * grid), datamodule.noise_std(grid)
        return [(grid, mean + 2 * std), (grid, mean - 2 * std)]

    figure = output_drawing.regression_fits(
        x, y, [("gaussian_nll", model, loss)], "learned +-2 sigma (band) against the true one (dashed)", truth
    )
    save(figure, HERE / "heteroscedastic.png")
    xs = torch.tensor([[0.1], [0.5], [0.9]])
    with torch.no_grad():
        _, variance = loss.mean_and_variance(model(xs))
    print("\n## heteroscedastic: x, learned sigma, true sigma")
    for x_value, learned in zip(xs.reshape(-1).tolist(), variance.sqrt().reshape(-1).tolist(), strict=True):
        print(f"| {x_value:.1f} | {learned:.3f} | {float(datamodule.noise_std(x_value)):.3f} |")


def segmentation(sweep: Path) -> None:
    print("\n## segmentation")
    print("| loss | pixel acc | mean IoU | dice | foreground IoU | foreground missed | shape confused | train s |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for run in jobs(sweep):
        datamodule, model, loss, summary = rebuild(run)
        images, labels = datamodule.splits["test"]
        with torch.no_grad():
            predicted = model(images).argmax(1)
        foreground = labels > 0
        missed = ((predicted == 0) & foreground).sum() / foreground.sum()
        confused = ((predicted > 0) & (predicted != labels) & foreground).sum() / foreground.sum()
        found = predicted > 0  # the objects, whatever their class: what the Wasserstein dice favours
        foreground_iou = (found & foreground).sum() / (found | foreground).sum()
        test = summary["metrics"]["test"]
        name = summary["config"]["loss"]
        print(
            f"| {name} | {test['acc']:.3f} | {test['iou']:.3f} | {test['dice']:.3f} | {foreground_iou:.3f} | "
            f"{missed:.3f} | {confused:.3f} | {summary['wall_time_s']:.0f} |"
        )
        rows.append((name, predicted[:8]))
    figure = new_figure((900, 130 * (len(rows) + 2)))
    panels = [("image", images[:8, 0], None), ("true", labels[:8], True)] + [(n, p, True) for n, p in rows]
    for row, (name, pictures, classes) in enumerate(panels):
        for column in range(8):
            axes = figure.add_subplot(len(panels), 8, row * 8 + column + 1)
            if classes:
                axes.imshow(
                    pictures[column].numpy(),
                    cmap=output_drawing.CLASS_COLOURS,
                    vmin=0,
                    vmax=len(output_drawing.CLASS_COLOURS.colors) - 1,
                    interpolation="nearest",
                )
            else:
                axes.imshow(pictures[column].numpy(), cmap="gray")
            axes.set_xticks([])
            axes.set_yticks([])
            if column == 0:
                axes.set_ylabel(name, fontsize=8)
    figure.suptitle(
        "shapes: test images, true masks, and the masks of each loss (red circle, blue square, green triangle)"
    )
    figure.subplots_adjust(left=0.08, right=0.99, bottom=0.01, top=0.92, wspace=0.05, hspace=0.08)
    save(figure, HERE / "segmentation_losses.png")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "multirun")
    for name, draw in (("mirror_1986", mirror), ("inverse", inverse), ("segmentation", segmentation),
                       ("heteroscedastic", heteroscedastic)):  # fmt: skip
        if (root / name).exists():
            draw(root / name)
