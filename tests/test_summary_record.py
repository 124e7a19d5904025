"""summary.json as one typed record: the three constructors, reading back, old files, the schema
(the default run's summary against its golden file: tests/test_run.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest

from dlbench.records.summary import (
    Best,
    Checkpoints,
    Summary,
    SummaryError,
    load_summary,
    summary_schema,
    write_summary,
)
from helpers import damaged


def test_a_running_summary_round_trips_with_nan_written_as_a_string(tmp_path: Path) -> None:
    summary = Summary.running(
        process={"pid": 7, "host": "node-1", "started": 1.0},
        overrides=["optimizer.lr=10"],
        run_dir=str(tmp_path),
        last_row={"epoch": 3.0, "train/loss": math.nan, "val/loss": math.inf, "val/acc": 0.5},
        epochs_run=4,
        best=Best(epoch=1, metric="val/loss", value=0.25),
        checkpoints=Checkpoints(last=str(tmp_path / "last.ckpt")),
        last_checkpoint={"path": str(tmp_path / "last.ckpt"), "epoch": 3, "step": 40, "end_of_epoch": True},
        updated=2.0,
    )
    write_summary(tmp_path, summary)
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert raw["metrics"] == {"train": {"loss": "NaN"}, "val": {"loss": "Infinity", "acc": 0.5}}
    assert "history" not in raw and raw["history_file"] == "metrics.csv"
    jsonschema.validate(raw, summary_schema())
    back = load_summary(tmp_path)
    assert math.isnan(back.metrics.train["loss"]) and back.metrics.get("val/loss") == math.inf
    assert back.best == Best(epoch=1, metric="val/loss", value=0.25) and back.process.pid == 7
    assert back.metrics.get("test/acc") is None


def test_a_failed_summary_names_the_error_and_keeps_its_traceback(tmp_path: Path) -> None:
    try:
        raise RuntimeError("the data went away")
    except RuntimeError as error:
        write_summary(tmp_path, Summary.failed(run_dir=tmp_path, overrides=["seed=1"], error=error))
    back = load_summary(tmp_path / "summary.json")
    assert back.status == "failed" and back.stop_reason == "RuntimeError: the data went away"
    assert "raise RuntimeError" in back.traceback and back.overrides == ["seed=1"] and back.epochs_run == 0


def test_summaries_of_the_previous_version_still_load() -> None:
    """Written before the model (NaN as 'nan', no `process.updated`), with a field this version does not know."""
    old = {
        "status": "diverged",
        "stop_reason": "loss nan at epoch 2",
        "metrics": {"train": {"loss": "nan"}, "val": {"loss": "inf"}, "test": {}},
        "best": {"epoch": 0, "metric": "val/loss", "value": 1.5},
        "epochs_run": 3,
        "history": [{"epoch": 0.0, "val/loss": 1.5}, {"epoch": 1.0, "val/loss": "nan"}],
        "a_field_from_later": {"kept": True},
    }
    summary = Summary.model_validate_json(json.dumps(old))
    assert math.isnan(summary.metrics.train["loss"]) and math.isnan(summary.history[1]["val/loss"])
    assert summary.model_extra == {"a_field_from_later": {"kept": True}}
    assert json.loads(summary.to_json())["a_field_from_later"] == {"kept": True}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"status": "completed", "metrics": {"train": {"loss": 0.1', "is cut short or damaged"),
        (b'{"status": "finished"}', "status"),
        (b"", "is cut short or damaged"),
    ],
)
def test_a_damaged_summary_is_one_sentence_naming_the_file(tmp_path: Path, content: bytes, words: str) -> None:
    damaged(tmp_path / "summary.json").write_bytes(content)
    with pytest.raises(SummaryError) as error:
        load_summary(tmp_path)
    assert str(tmp_path / "summary.json") in str(error.value) and words in str(error.value)
    assert "\n" not in str(error.value)
