"""`python -m dlbench.gradcheck model=lenet dataset=mnist`: check a model's gradients numerically.

Takes the same overrides as `train.py`, builds the data and the model exactly as a run would,
and compares autograd's gradient of the training loss with finite differences on a small batch
in float64, for every parameter tensor. Exit status 0 when every tensor passes, 1 otherwise,
2 for a configuration error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def compose(overrides: list[str]):  # -> DictConfig
    """The config `python train.py <overrides>` would run (Hydra's compose API, no run directory)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.runtime.output_dir = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def gradcheck_config(cfg, batch_size: int = 4, **options):  # -> list[TensorCheck]
    """Build data, model and loss as a run of `cfg` would, and check the gradients on one batch."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from dlbench.diagnostics.gradients import check_gradients
    from dlbench.models import build_model
    from dlbench.tasks.losses import make_loss
    from dlbench.tasks.output_units import fit_output
    from dlbench.training.initializers import initialize

    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate(cfg.dataset, _convert_="all")
    datamodule.setup()
    spec = datamodule.spec
    network_spec, output = fit_output(cfg, spec)  # as many outputs as the loss's output unit needs
    model = build_model(cfg.model, network_spec)
    initialize(model, **cfg.initializer)
    reconstruct = bool(getattr(model, "reconstructs", False))
    loss_fn = make_loss(cfg.get("loss", "auto"), spec, reconstruct, output=output)
    inputs, targets = next(iter(datamodule.train_dataloader()))
    inputs, targets = inputs[:batch_size].double(), targets[:batch_size]
    if targets.is_floating_point():
        targets = targets.double()
    if reconstruct:
        targets = inputs
    return check_gradients(model, lambda m: loss_fn(m(inputs), targets), **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbench.gradcheck", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py: model=mlp dataset=iris")
    parser.add_argument("--batch-size", type=int, default=4, help="examples in the checked batch (default 4)")
    parser.add_argument("--eps", type=float, default=1e-5, help="finite-difference step (default 1e-5)")
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest relative error that passes (default 1e-4)"
    )
    parser.add_argument(
        "--entries", type=int, default=20, help="entries checked per tensor, sampled when larger (default 20)"
    )
    args = parser.parse_args(argv)

    from hydra.errors import HydraException

    from dlbench.diagnostics.gradients import format_table
    from dlbench.errors import find_config_error

    try:
        cfg = compose(args.overrides)
        results = gradcheck_config(
            cfg, args.batch_size, eps=args.eps, tolerance=args.tolerance, max_entries=args.entries
        )
    except Exception as error:  # noqa: BLE001 - user mistakes get one line, anything else its traceback
        mistake = find_config_error(error) or (error if isinstance(error, HydraException) else None)
        if mistake is None:
            raise
        print(f"error: {mistake}", file=sys.stderr)
        return 2
    print(format_table(results, args.tolerance))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
