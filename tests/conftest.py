"""Shared fixtures: compose configs through Hydra's compose API, as `train.py` would.

Plain helpers that tests import (the project root, running `python train.py`) live in helpers.py:
conftest.py is pytest's plugin file, not a module to import from."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import helpers
from dlbench.config.compose import compose_config

# One torch thread per test process, and per `python train.py` it starts (they inherit the variable):
# pytest-xdist already runs one worker per core, and two workers of two OpenMP threads each on two
# cores make every small op wait for a busy core (an LSTM step took 17 ms instead of 1.3 ms, a
# one-epoch run 11 s instead of 2 s). What a test asserts does not depend on the thread count.
# OMP_NUM_THREADS set by hand is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (a plugin): the variable came too late for it
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.xdist_group(name)` under `--dist loadgroup` (pyproject's addopts): each group's tests
    on one worker, so a fixture they share is made once. pytest-xdist 3.8 marks a test's group by
    setting `item._nodeid`, which pytest 9 no longer reads (the id is `item._id`): the groups were
    silently ignored, and the refusal table was made on both workers. This does the same through
    pytest 9's id; where xdist's own marking worked, it does nothing."""
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers, with --dist loadgroup
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest before 9: xdist's own marking works
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)


@pytest.fixture(scope="session", autouse=True)
def every_summary_matches_its_schema(tmp_path_factory: pytest.TempPathFactory):
    """After the session (each xdist worker its own): every summary.json a test's run wrote under the
    session's temporary directories is valid against summary.json's JSON Schema (docs/run-directory.md).
    Files a test damaged on purpose are registered with `helpers.damaged` and left out."""
    yield
    import json

    import jsonschema

    from dlbench.records.summary import summary_schema

    validator = jsonschema.Draft202012Validator(summary_schema())
    problems = []
    for path in tmp_path_factory.getbasetemp().rglob("summary.json"):
        if path.resolve() in helpers.DAMAGED:
            continue
        try:
            errors = [error.message for error in validator.iter_errors(json.loads(path.read_text()))]
        except ValueError as error:
            errors = [f"not JSON: {error}"]
        if errors:
            problems.append(f"{path}: {errors[0]}")
    assert not problems, "summaries that do not match summary.json's schema:\n" + "\n".join(problems[:20])


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`run_cli("model=mlp", ...)`: `python train.py <args>` in a subprocess, as a user runs it."""
    return helpers.run_cli


@pytest.fixture
def refuse(make_cfg, capsys) -> Callable[..., tuple[object, list[str]]]:
    """`refuse("model=lenet")`: the job run in this process as `python train.py model=lenet` runs it
    (dlbench.cli.run_job); returns its exit status and the lines it wrote to stderr. For refusals
    that need torch (the data, the devices); those that do not are in tests/test_refusals.py."""
    from dlbench.cli import run_job

    def run(*overrides: str) -> tuple[object, list[str]]:
        cfg = make_cfg(*overrides)
        with pytest.raises(SystemExit) as exit_info:
            run_job(cfg)
        return exit_info.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]

    return run


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("model=mlp", "trainer.max_epochs=2")` -> a composed config with a tmp run dir."""

    def make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_config(list(overrides), output_dir or tmp_path / "run")

    yield make
    HydraConfig.instance().cfg = None


@pytest.fixture
def no_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, no network, every W&B file under tmp_path."""
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_RUN_GROUP", "WANDB_SWEEP_ID", "WANDB_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for key in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(key, str(tmp_path / "wandb-home"))
    empty_netrc = tmp_path / "netrc"
    empty_netrc.write_text("")
    monkeypatch.setenv("NETRC", str(empty_netrc))
