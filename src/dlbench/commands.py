"""`dlbench <command> ...` and `python -m dlbench <command> ...`: one entry point for dlbench's commands.

    dlbench train [overrides] [-m] [Hydra flags]   exactly `python train.py ...`
    dlbench report <sweep dir>                     `python -m dlbench.report`
    dlbench sweep <W&B sweep spec>                 `python -m dlbench.sweep`
    dlbench gradcheck [overrides]                  `python -m dlbench.gradcheck`
    dlbench experiments list|check|gallery         `python -m dlbench.experiments`

`train` does not re-implement the command line: it runs the checkout's `train.py` as `__main__`
with the rest of the arguments, so Hydra sees the same program (its config path, its job name
`train`, `-m`, `--cfg`, `--help`, `hydra.*` overrides) and `dlbench train` cannot drift from
`python train.py`. The checkout is the current directory when it holds `train.py` and
`configs/train.yaml`, else the one dlbench is installed from (`pip install -e .`).
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable
from pathlib import Path

USAGE = """usage: dlbench <command> [arguments]

commands:
  train       train a model: dlbench train model=lenet dataset=digits (all of `python train.py`'s
              arguments: overrides, -m for a sweep, --cfg job, --help)
  report      make a sweep's comparison report again: dlbench report multirun/<date>/<time>
  sweep       run a W&B sweep spec here, no account needed: dlbench sweep sweeps/wandb/lr.yaml
  gradcheck   check a model's gradients numerically: dlbench gradcheck model=lenet dataset=digits
  experiments the classic experiments: dlbench experiments list, dlbench experiments check perceptron

`dlbench <command> --help` says more about each."""


def checkout() -> Path | None:
    """The directory holding `train.py` and `configs/`: here, or the checkout dlbench is installed from."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "train.py").is_file() and (root / "configs" / "train.yaml").is_file():
            return root
    return None


def train(arguments: list[str]) -> int:
    root = checkout()
    if root is None:
        print(
            "error: dlbench train needs a dlbench checkout (train.py and configs/); run it inside one, or install "
            "dlbench from one with pip install -e .",
            file=sys.stderr,
        )
        return 2
    program = root / "train.py"
    sys.argv = [str(program), *arguments]
    sys.path.insert(0, str(root))  # as `python train.py` does: modules beside train.py import (model._target_=...)
    try:
        runpy.run_path(str(program), run_name="__main__")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def _module_main(module: str) -> Callable[[list[str]], int]:
    def run(arguments: list[str]) -> int:
        import importlib

        main = importlib.import_module(module).main
        try:
            result = main(arguments)
        except SystemExit as exit_:  # argparse's --help and usage errors
            return exit_.code if isinstance(exit_.code, int) else 0
        return int(result or 0)

    return run


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train": train,
    "report": _module_main("dlbench.report"),
    "sweep": _module_main("dlbench.sweep"),
    "gradcheck": _module_main("dlbench.gradcheck"),
    "experiments": _module_main("dlbench.experiments.command"),
}


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = arguments[0], arguments[1:]
    if command not in COMMANDS:
        print(f"error: dlbench has no command {command!r}; use one of {', '.join(COMMANDS)}.", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    return COMMANDS[command](rest)


if __name__ == "__main__":
    sys.exit(main())
