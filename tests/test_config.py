"""Every option of every config group composes into a config that resolves."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from helpers import CONFIGS

LIST_GROUPS = {"regularizer", "logger"}  # groups that take a list: regularizer=[l2,dropout]
SKIP_GROUPS = {"hydra", "hparams_search"}  # Hydra's own settings; sweepers are tested with sweeps


def group_options() -> list[tuple[str, str]]:
    pairs = []
    for group in sorted(p for p in CONFIGS.iterdir() if p.is_dir() and p.name not in SKIP_GROUPS):
        for option in sorted(group.glob("*.yaml")):
            pairs.append((group.name, option.stem))
    return pairs


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_group_option_composes_and_resolves(make_cfg, group: str, option: str) -> None:
    override = f"{group}=[{option}]" if group in LIST_GROUPS else f"{group}={option}"
    cfg = make_cfg(override)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["seed"] == 42
    assert {"dataset", "model", "optimizer", "trainer"} <= set(resolved)


def test_default_composition_is_mlp_on_iris_with_sgd_on_cpu(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.dataset._target_.endswith("Iris")
    assert cfg.model._target_.endswith("MLP")
    assert cfg.optimizer._target_ == "torch.optim.SGD"
    assert cfg.trainer.accelerator == "cpu"
    assert list(cfg.logger) == ["csv"]


def test_seed_lives_in_one_place(make_cfg) -> None:
    cfg = make_cfg("seed=7")
    assert cfg.dataset.seed == 7


def test_run_dir_names_differ_for_runs_started_in_the_same_second() -> None:
    text = (CONFIGS / "hydra" / "default.yaml").read_text()
    assert "%f" in text.split("run:")[1].split("sweep:")[0], "run dirs need sub-second names"


def test_the_schemas_lists_of_names_are_the_registries_own() -> None:
    """The schema repeats the registries' names (they import torch, the schema must not): they agree."""
    from dlbench.callbacks.pictures import PICTURES
    from dlbench.config import schema
    from dlbench.models.activations import ACTIVATIONS
    from dlbench.tasks.losses import LOSSES
    from dlbench.tasks.output_units import UNITS
    from dlbench.training.initializers import SCHEMES

    assert set(schema.LOSSES) == {"auto", *LOSSES}
    assert set(schema.ACTIVATIONS) == set(ACTIVATIONS)
    assert set(schema.SCHEMES) == set(SCHEMES)
    assert set(schema.PICTURES) == set(PICTURES)
    assert set(schema.UNITS) == set(UNITS)
