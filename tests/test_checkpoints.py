"""Checkpoints are data, not code: every load is weights-only, every mistake one sentence (exit 2)."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import re
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from dlbench.cli import run_job
from dlbench.config.compose import compose_config
from dlbench.run import train
from helpers import run_cli

QUICK = ["callbacks.pictures.enabled=false", "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
LENET = ["model=lenet", "dataset=digits", "dataset.size=28", "+trainer.limit_val_batches=2"]


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LeNet trained for a moment on 28x28 digits: an MNIST-shaped run, without the MNIST files."""
    run_dir = tmp_path_factory.mktemp("lenet") / "run"
    train(compose_config([*LENET, *QUICK, "+trainer.limit_test_batches=2"], run_dir))
    GlobalHydra.instance().clear()
    return run_dir


def _refused(make_cfg, capsys, *overrides: str) -> str:
    """Run the job as train.py does; assert exit status 2 and return the one line it printed."""
    with pytest.raises(SystemExit) as exit_info:
        run_job(make_cfg(*overrides))
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "Traceback" not in lines[0]
    assert "weights_only=False" not in lines[0], "the unsafe way is never the advice"
    return lines[0]


def test_a_missing_checkpoint_is_named(make_cfg, capsys, tmp_path: Path) -> None:
    line = _refused(make_cfg, capsys, f"ckpt_path={tmp_path}/nope.ckpt", *QUICK)
    assert f"ckpt_path={tmp_path}/nope.ckpt does not exist" in line


def test_an_empty_ckpt_path_is_refused_not_ignored(make_cfg, capsys) -> None:
    line = _refused(make_cfg, capsys, "ckpt_path=", *QUICK)
    assert "ckpt_path='' must be the path of a .ckpt file" in line


def test_a_directory_is_refused_with_the_checkpoints_inside_it(make_cfg, capsys, lenet_run: Path) -> None:
    line = _refused(make_cfg, capsys, f"ckpt_path={lenet_run}", "train=false")
    assert "is a directory" in line and f"{lenet_run}/checkpoints/" in line


def test_an_empty_file_is_refused(make_cfg, capsys, tmp_path: Path) -> None:
    empty = tmp_path / "empty.ckpt"
    empty.touch()
    assert f"ckpt_path={empty} is an empty file" in _refused(make_cfg, capsys, f"ckpt_path={empty}", "train=false")


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "text"])
def test_a_corrupt_file_is_refused(make_cfg, capsys, tmp_path: Path, lenet_run: Path, damage: str) -> None:
    good = (lenet_run / "checkpoints" / "best.ckpt").read_bytes()
    bad = tmp_path / "bad.ckpt"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    elif damage == "overwritten":
        middle = len(good) // 2
        bad.write_bytes(good[:middle] + b"\0" * 4096 + good[middle + 4096 :])
    else:
        bad.write_text("not a checkpoint\n" * 20)
    line = _refused(make_cfg, capsys, f"ckpt_path={bad}", "train=false")
    assert f"ckpt_path={bad} is not a readable checkpoint" in line or f"ckpt_path={bad} is not a Lightning" in line


def test_train_false_without_a_checkpoint_is_refused(make_cfg, capsys) -> None:
    assert "train=false evaluates a checkpoint, but ckpt_path is not set" in _refused(make_cfg, capsys, "train=false")


def test_a_lenet_checkpoint_resumed_as_an_mlp_names_both(make_cfg, capsys, lenet_run: Path) -> None:
    line = _refused(make_cfg, capsys, f"ckpt_path={lenet_run}/checkpoints/last.ckpt", *QUICK)
    assert "holds model=lenet trained on dataset=digits, but this run builds model=mlp" in line
    assert "model=lenet dataset=digits dataset.size=28" in line, "the overrides it was trained with"


def test_a_checkpoint_of_a_resized_network_is_refused(make_cfg, capsys, tmp_path: Path) -> None:
    train(make_cfg(*QUICK, "model.hidden=[5]", output_dir=tmp_path / "narrow"))
    line = _refused(make_cfg, capsys, f"ckpt_path={tmp_path}/narrow/checkpoints/last.ckpt", "model.hidden=[7]", *QUICK)
    assert "does not fit the network this run builds" in line and "model.hidden=[5]" in line


def test_evaluation_takes_data_and_model_from_the_checkpoint(make_cfg, lenet_run: Path, tmp_path: Path) -> None:
    """`train=false ckpt_path=<an MNIST-shaped LeNet>` with the default dataset (iris) on the command line:
    the checkpoint's dataset (digits at 28x28, with keys iris lacks) and model are used."""
    trained = json.loads((lenet_run / "summary.json").read_text())
    train(make_cfg("train=false", f"ckpt_path={lenet_run}/checkpoints/best.ckpt", "+trainer.limit_test_batches=2"))
    evaluated = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert evaluated["data"]["name"] == "digits" and evaluated["data"]["input_shape"] == [1, 28, 28]
    assert evaluated["config"]["model"]["_target_"].endswith("LeNet")
    assert evaluated["metrics"]["test"]["acc"] == pytest.approx(trained["metrics"]["test"]["acc"])


@pytest.mark.parametrize("how", ["evaluate", "resume", "lr finder"])
def test_lightning_reads_checkpoints_weights_only(make_cfg, monkeypatch, lenet_run: Path, how: str) -> None:
    """Every load, Lightning's own restores included (test on a checkpoint, fit's resume and its test
    on the best checkpoint, the learning-rate finder's restore), goes through the safe reader."""
    calls = []
    original = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    if how == "evaluate":
        train(make_cfg("train=false", f"ckpt_path={lenet_run}/checkpoints/best.ckpt", "+trainer.limit_test_batches=1"))
    elif how == "resume":
        resume = [
            f"ckpt_path={lenet_run}/checkpoints/last.ckpt",
            "trainer.max_epochs=2",
            "+trainer.limit_test_batches=1",
        ]
        train(make_cfg(*LENET, *QUICK, *resume))
    else:
        train(make_cfg(*QUICK, "tune=lr", "tune.num_training=5"))
    assert len(calls) >= (1 if how == "evaluate" else 2), calls
    assert all(flag is True for flag in calls), calls


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("train_flag", ["train=false", "train=true"])
def test_a_checkpoint_whose_pickle_runs_code_is_refused_and_the_code_never_runs(
    tmp_path: Path, lenet_run: Path, train_flag: str
) -> None:
    marker = tmp_path / "the_code_ran"
    checkpoint = torch.load(lenet_run / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint["payload"] = _RunsCode(marker)
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    result = run_cli(train_flag, f"ckpt_path={crafted}", f"hydra.run.dir={tmp_path / 'run'}", *QUICK, *LENET)
    assert result.returncode == 2, result.stderr[-2000:]
    assert not marker.exists(), "the pickle's code ran"
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Warning" not in line]
    assert lines[-1].startswith(f"error: ckpt_path={crafted} was not loaded: it asks to import ")
    assert "system" in lines[-1]
    assert "Traceback" not in result.stderr and "weights_only=False" not in result.stderr
    assert not (tmp_path / "run" / "summary.json").exists(), "refused before anything ran"


def test_the_marker_trick_works_when_loaded_unsafely(tmp_path: Path) -> None:
    """The test above would prove nothing if the crafted pickle did not run its code when loaded the old way."""
    marker = tmp_path / "ran"
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "payload": _RunsCode(marker)}, crafted)
    torch.load(crafted, weights_only=False)
    assert marker.exists()


def _with_pickle(payload: bytes, path: Path) -> Path:
    """A checkpoint archive as torch.save writes it, whose pickle (data.pkl) is `payload`."""
    written = io.BytesIO()
    torch.save({"state_dict": {}}, written)
    out = io.BytesIO()
    with zipfile.ZipFile(written) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for entry in source.infolist():
            content = payload if entry.filename.endswith("data.pkl") else source.read(entry)
            target.writestr(entry.filename, content)
    path.write_bytes(out.getvalue())
    return path


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        # protocol 4 frames its instructions; torch's weights-only reader stops at the frame, before the import
        (pickle.dumps(_RunsCode(Path("/nonexistent")), protocol=4), "was not loaded: it asks to import posix.system"),
        (pickle.dumps({"state_dict": {}, "x": _RunsCode(Path("/no"))}, protocol=5), "asks to import posix.system"),
        (b"\x80\x02h\x65.", "its pickle refers back to a value it never stored (memo entry 101)"),
        (b"\x80\x02}q\x00(X\x01\x00\x00", "its pickle ends"),
        (pickle.dumps(collections.Counter(a=1), protocol=4), "its pickle holds the instruction FRAME (byte 149)"),
    ],
    ids=["code, protocol 4", "code inside, protocol 5", "memo", "cut short", "protocol 4 data"],
)
def test_a_bad_pickle_is_refused_with_its_reason_in_words(tmp_path: Path, payload: bytes, words: str) -> None:
    """Once "(101)", "its pickle is damaged" for a pickle that asks for os.system: each reason is words."""
    from dlbench.run.checkpoints import CheckpointError, load_checkpoint

    crafted = _with_pickle(payload, tmp_path / "crafted.ckpt")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(crafted)
    message = str(refused.value)
    assert message.startswith(f"ckpt_path={crafted} ") and words in message, message
    assert not re.search(r"Error\b|\[Errno|\(\d+\)", message), message


def test_an_os_error_is_said_with_its_reason_not_its_errno() -> None:
    """A zip archive whose table of contents points outside the file makes the reader's seek fail with
    `[Errno 22] Invalid argument`; the refusal says the reason."""
    from dlbench.run.checkpoints import _in_words

    reason = _in_words(OSError(22, "Invalid argument"))
    assert reason == "the system could not read it: Invalid argument"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-n", "0"]))
