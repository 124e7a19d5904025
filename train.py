"""dlbench's command line: `python train.py model=lenet dataset=mnist optimizer=adam`.

Hydra composes `configs/train.yaml` with the overrides; `dlbench.cli.run_job` resolves the run's
plan (every config check, before torch is imported) and runs it. Torch is imported only inside the
job, so `--help`, `--cfg job` and a refused value answer in about a second.
"""

from __future__ import annotations

import gc

import hydra
from omegaconf import DictConfig

from dlbench.cli import main as report_errors_in_one_line
from dlbench.runtime.hydra import hide_spec_folders, speed_up_hydra

speed_up_hydra()  # --help and multirun jobs: skip work Hydra repeats (see the module)
hide_spec_folders()  # --help: no `sweep/wandb` group (W&B sweep specs, not configs)


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from dlbench.cli import run_job

    return run_job(cfg)


if __name__ == "__main__":
    report_errors_in_one_line(main)
    # Everything is written; let the interpreter exit without a last walk over the millions of
    # objects torch and Lightning made (about 1.3 s at the end of every command).
    gc.freeze()
