"""The config `python train.py <overrides>` would run, composed through Hydra's compose API.

For the commands that take train.py's overrides without being Hydra apps themselves
(`python -m dlbench.gradcheck`, `python -m dlbench.sweep`), for the tests and the benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, open_dict

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def compose_config(overrides: list[str], output_dir: str | Path | None = None) -> DictConfig:
    """The composed config; with `output_dir`, Hydra's runtime is set as for a job writing there
    (so `${hydra:runtime.output_dir}` and the rest resolve); without, the bare job config."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
            cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=output_dir is not None)
    finally:
        GlobalHydra.instance().clear()
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.runtime.cwd = os.getcwd()
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    return cfg
