"""The foundation as a user meets it: the default run, its files, reproducibility, evaluation."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from dlbench.run import train
from helpers import ROOT, run_cli

# the tests that read the default_run fixture run on one xdist worker, so its run is made once
# (a module-scoped fixture was made again on each worker the module's tests were spread over)
SHARED = pytest.mark.xdist_group("run")


@pytest.fixture(scope="session")  # with SHARED: made once, on one worker
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`python train.py` with no arguments (only the run directory moved into a temp dir)."""
    run_dir = tmp_path_factory.mktemp("default") / "run"
    result = run_cli(f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result.stdout


@SHARED
def test_default_run_reaches_the_accuracy_bar(default_run) -> None:
    run_dir, _ = default_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["metrics"]["test"]["acc"] >= 0.93
    assert summary["data"]["name"] == "iris"


GOLDEN = Path(__file__).parent / "golden" / "default_summary.json"
# what differs between two runs of the same command: clocks, paths, the code's commit
VOLATILE = {"wall_time_s", "time_per_epoch_s", "samples_per_s", "git_commit"}


@SHARED
def test_the_default_runs_summary_equals_its_golden_file_apart_from_timings_and_paths(default_run) -> None:
    """`python train.py` (the README's first command): the same fields, in the same order, the same
    values (numbers to 1e-6: the same code on another CPU may round differently in the last bits)."""
    run_dir, _ = default_run
    text = (run_dir / "summary.json").read_text()
    text = text.replace(str(run_dir.resolve()), "<the run directory>").replace(str(ROOT), "<the project>")
    written, golden = json.loads(text), json.loads(GOLDEN.read_text())
    assert list(written) == list(golden)
    written["devices"]["config_hash_per_rank"] = golden["devices"]["config_hash_per_rank"]  # the paths are in it
    for key in golden:
        if key in VOLATILE:
            continue
        if key == "history":
            assert [list(row) for row in written[key]] == [list(row) for row in golden[key]]
            for ours, theirs in zip(written[key], golden[key], strict=True):
                ours.pop("time/epoch_s"), theirs.pop("time/epoch_s")
                assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-7)
        elif key == "versions":
            assert set(written[key]) == set(golden[key])
        elif key == "metrics":
            for split in golden[key]:
                assert written[key][split] == pytest.approx(golden[key][split], rel=1e-6, abs=1e-7)
        elif key == "best":
            assert {**written[key], "value": None} == {**golden[key], "value": None}
            assert written[key]["value"] == pytest.approx(golden[key]["value"], rel=1e-6)
        else:
            assert written[key] == golden[key], key


@SHARED
def test_default_run_writes_the_run_directory(default_run) -> None:
    run_dir, _ = default_run
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert (run_dir / "checkpoints" / "best.ckpt").exists()
    assert (run_dir / "checkpoints" / "last.ckpt").exists()
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    summary = json.loads((run_dir / "summary.json").read_text())
    epoch_rows = [row for row in rows if row.get("train/loss")]
    assert len(epoch_rows) == summary["epochs_run"] == summary["config"]["trainer"]["max_epochs"]
    assert all(row["val/loss"] for row in epoch_rows), "train and validation share one row per epoch"
    for key in (
        "status",
        "metrics",
        "best_epoch",
        "epochs_run",
        "wall_time_s",
        "parameters",
        "overrides",
        "versions",
        "seed",
    ):
        assert key in summary, key
    assert set(summary["metrics"]) == {"train", "val", "test"}
    assert summary["parameters"] == 4 * 16 + 16 + 16 * 3 + 3
    assert {"torch", "pytorch-lightning", "hydra-core"} <= set(summary["versions"])
    assert summary["overrides"] == [f"hydra.run.dir={run_dir}"] or summary["overrides"] == []


@SHARED
def test_default_run_ends_with_a_table_and_the_run_directory(default_run) -> None:
    run_dir, stdout = default_run
    assert "test/acc" in stdout
    assert f"run directory: {run_dir.resolve()}" in stdout.replace("\n", "")


def test_same_seed_gives_the_same_metrics(make_cfg, tmp_path: Path) -> None:
    histories = []
    for name in ("first", "second"):
        train(make_cfg("trainer.max_epochs=3", "seed=3", output_dir=tmp_path / name))
        histories.append(json.loads((tmp_path / name / "summary.json").read_text())["history"])
    strip = lambda rows: [{k: v for k, v in row.items() if not k.startswith("time/")} for row in rows]  # noqa: E731
    assert strip(histories[0]) == strip(histories[1])
    train(make_cfg("trainer.max_epochs=3", "seed=4", output_dir=tmp_path / "other"))
    other = json.loads((tmp_path / "other" / "summary.json").read_text())["history"]
    assert strip(other) != strip(histories[0])


def test_a_checkpoint_is_evaluated_without_training(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("trainer.max_epochs=5", output_dir=tmp_path / "trained"))
    trained = json.loads((tmp_path / "trained" / "summary.json").read_text())
    # a different model on the command line: the checkpoint's own config wins
    train(
        make_cfg(
            "train=false",
            f"ckpt_path={trained['checkpoints']['best']}",
            "model.hidden=[3]",
            output_dir=tmp_path / "eval",
        )
    )
    evaluated = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert evaluated["epochs_run"] == 0
    assert evaluated["metrics"]["test"]["acc"] == pytest.approx(trained["metrics"]["test"]["acc"])
    assert evaluated["metrics"]["test"]["loss"] == pytest.approx(trained["metrics"]["test"]["loss"], rel=1e-5)


def test_checkpoints_carry_the_config_they_were_trained_with(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("trainer.max_epochs=1", "model.hidden=[5]"))
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=False)
    assert checkpoint["dlbench_config"]["model"]["hidden"] == [5]


def test_the_closing_table_prints_error_messages_and_directories_as_they_are() -> None:
    """A failed run's message (gloo's `[/.../pair.cc:561]`) and a sweep directory named after
    `regularizer=[l2,dropout]` are text, not rich markup: printing them must neither crash nor eat them."""
    from rich.console import Console

    from dlbench.records.summary import Summary
    from dlbench.reporting.console import print_run_table

    console = Console(record=True, width=300)
    reason = "RuntimeError: [/__w/pytorch/third_party/gloo/transport/tcp/pair.cc:561] Connection closed by peer"
    print_run_table(
        Summary(
            status="failed", epochs_run=1, wall_time_s=1.0, stop_reason=reason, run_dir="/runs/regularizer=[l2,dropout]"
        ),
        console=console,
    )
    text = console.export_text()
    assert "[/__w/pytorch/third_party/gloo/transport/tcp/pair.cc:561]" in text
    assert "run directory: /runs/regularizer=[l2,dropout]" in text
