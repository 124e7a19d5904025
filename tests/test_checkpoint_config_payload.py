"""A checkpoint is data: the config stored in it cannot choose code to run (`dlbench.config.targets`).

A checkpoint that loads weights-only can still carry, in its stored dataset config, a `_target_`
chain: `builtins.open` + `builtins.print` writing a file, then `numpy.load(..., allow_pickle=True)` on
it. `train=false ckpt_path=<it>` rebuilds the data from the stored config, so without the allowlist
Hydra's `instantiate` would call that chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from dlbench.cli import run_job
from dlbench.config.compose import compose_config
from dlbench.run import train

QUICK = ["callbacks.pictures.enabled=false", "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """best.ckpt of an MLP trained for a moment on Iris."""
    run_dir = tmp_path_factory.mktemp("mlp") / "run"
    train(compose_config([*QUICK, "+trainer.limit_test_batches=1"], run_dir))
    GlobalHydra.instance().clear()
    return run_dir / "checkpoints" / "best.ckpt"


def _chain(written: Path) -> dict:
    """open(written, 'w') -> print('payload', file=it) -> numpy.load(<that>, allow_pickle=True)."""
    opened = {"_target_": "builtins.open", "_args_": [str(written), "w"]}
    printed = {"_target_": "builtins.print", "_args_": ["payload"], "file": opened}
    return {"_target_": "numpy.load", "file": printed, "allow_pickle": True}


def _crafted(trained: Path, tmp_path: Path, how: str) -> tuple[Path, Path]:
    written = tmp_path / "written_by_the_payload"
    checkpoint = torch.load(trained, weights_only=True)
    config = checkpoint["dlbench_config"]
    if how == "chain":
        config["dataset"] = _chain(written)
    elif how == "nested":  # a shipped class around it: every _target_ at any depth is checked
        config["dataset"] = {**config["dataset"], "extra": _chain(written)}
    else:  # a resolver would make the _target_ only after the check
        config["dataset"] = {**config["dataset"], "extra": "${oc.decode:'{_target_: builtins.open, _args_: [x, w]}'}"}
    crafted = tmp_path / f"{how}.ckpt"
    torch.save(checkpoint, crafted)
    torch.load(crafted, weights_only=True)  # it is a checkpoint the weights-only reader accepts
    return crafted, written


@pytest.mark.parametrize("how", ["chain", "nested", "decode"])
def test_a_stored_config_that_names_code_is_refused_and_nothing_is_written(
    make_cfg, capsys, trained: Path, tmp_path: Path, how: str
) -> None:
    crafted, written = _crafted(trained, tmp_path, how)
    before = sorted(tmp_path.rglob("*"))
    cfg = make_cfg("train=false", f"ckpt_path={crafted}")
    with pytest.raises(SystemExit) as exit_info:
        run_job(cfg)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert lines[0].startswith(f"error: ckpt_path={crafted} was not used: its stored ")
    assert ("builtins.open" in lines[0] or "numpy.load" in lines[0]) if how != "decode" else "oc.decode" in lines[0]
    assert not written.exists(), "the payload ran"
    after = sorted(path for path in tmp_path.rglob("*") if path.name != "train.log")
    assert [path for path in after if path not in before and path.is_file()] == [], (
        "refused before anything was written"
    )


def test_the_chain_runs_code_when_the_stored_config_is_not_checked(
    make_cfg, monkeypatch: pytest.MonkeyPatch, trained: Path, tmp_path: Path
) -> None:
    """The test above would prove nothing if the payload did not run without the allowlist."""
    import dlbench.run.execute as execute

    monkeypatch.setattr(execute, "check_stored_config", lambda *args: None)
    crafted, written = _crafted(trained, tmp_path, "chain")
    with pytest.raises(Exception):  # noqa: B017 - whatever numpy.load says of a None file; the file is written first
        train(make_cfg("train=false", f"ckpt_path={crafted}"))
    assert written.exists(), "the payload did not run: this test's chain is not a real attack"


def test_a_stored_config_naming_the_shipped_classes_is_evaluated(make_cfg, trained: Path, tmp_path: Path) -> None:
    """The allowlist refuses only code: the checkpoint of a shipped model and dataset is evaluated as before."""
    train(make_cfg("train=false", f"ckpt_path={trained}", "+trainer.limit_test_batches=1"))
    assert (tmp_path / "run" / "summary.json").exists()


def test_a_users_class_is_allowed_when_the_command_names_it(trained: Path) -> None:
    """A model of one's own is evaluated with the command naming its class, as it was trained."""
    from dlbench.config.targets import check_stored_config

    stored = {"model": {"_target_": "my_package.MyNet", "width": 3}}
    with pytest.raises(Exception, match="asks to run my_package.MyNet"):
        check_stored_config(stored, ("model",), {"model": {"_target_": "dlbench.models.mlp.MLP"}}, "x.ckpt")
    check_stored_config(stored, ("model",), {"model": {"_target_": "my_package.MyNet"}}, "x.ckpt")
