"""`python -m dlbench.gradcheck model=lenet dataset=mnist`: check a model's gradients numerically.

Takes the same overrides as `train.py`, builds the data and the model exactly as a run would,
and compares autograd's gradient of the training loss with finite differences on a small batch
in float64, for every parameter tensor. Exit status 0 when every tensor passes, 1 otherwise,
2 for a configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def gradcheck_run(overrides: list[str], batch_size: int = 4, **options: Any) -> list[Any]:
    """Build data, model and loss as `python train.py <overrides>` would, and check the gradients
    of the training loss on one batch of `batch_size` examples."""
    from dlbench.config.compose import compose_config
    from dlbench.config.context import RunContext
    from dlbench.diagnostics.gradients import check_gradients
    from dlbench.run.builders import build_network
    from dlbench.run.execute import prepare
    from dlbench.tasks.losses import make_loss

    cfg = compose_config(overrides, Path.cwd())
    plan, datamodule = prepare(cfg, RunContext(output_dir=Path.cwd()))
    model = build_network(plan, datamodule)
    reconstruct = bool(getattr(model, "reconstructs", False))
    loss_fn = make_loss(plan.task.loss, datamodule.spec, reconstruct, output=plan.output)
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
        results = gradcheck_run(
            args.overrides, args.batch_size, eps=args.eps, tolerance=args.tolerance, max_entries=args.entries
        )
    except Exception as error:
        mistake = find_config_error(error) or (error if isinstance(error, HydraException) else None)
        if mistake is None:
            raise
        print(f"error: {mistake}", file=sys.stderr)
        return 2
    print(format_table(results, args.tolerance))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
