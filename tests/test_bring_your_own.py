"""Your own model and data: docs/bring-your-own.md's examples run as written, on real files.

The page's file blocks (```python title="x.py"```) are written to a fresh folder on sys.path and
each of its `python` commands is run: scripts as scripts, `python train.py ...` as the same
composed config `train.py` would run (in-process, two epochs).
"""

from __future__ import annotations

import json
import re
import runpy
import shlex
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from dlbench.data.streaming import DatasetData
from dlbench.data.tabular import Iris
from dlbench.errors import ConfigError, find_config_error
from dlbench.run import build, train
from helpers import CONFIGS, ROOT

DOC = ROOT / "docs" / "bring-your-own.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(info after the language, body) of every fenced block of `kind` in the page, in order."""
    return [(info, body) for language, info, body in FENCE.findall(DOC.read_text()) if language == kind]


def doc_files() -> dict[str, str]:
    files = {}
    for info, body in blocks("python"):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            files[title.group(1)] = body
    return files


def commands(body: str) -> list[str]:
    return [line.strip() for line in body.splitlines() if line.strip().startswith("python ")]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder holding the page's files, importable and current, as beside train.py."""
    folder = tmp_path / "work"
    folder.mkdir()
    for name, text in doc_files().items():
        (folder / name).write_text(text)
        sys.modules.pop(Path(name).stem, None)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def run_command(line: str, make_cfg, output_dir: Path) -> dict | None:
    """One `python ...` line of the page: a script runs as a script, train.py as its composed config."""
    words = shlex.split(line)
    assert words[0] == "python", line
    if words[1] != "train.py":
        runpy.run_path(words[1], run_name="__main__")
        return None
    cfg = make_cfg(*words[2:], "trainer.max_epochs=2", output_dir=output_dir)
    train(cfg)
    return json.loads((output_dir / "summary.json").read_text())


TRAIN_BLOCKS = [body for _, body in blocks("bash") if any("train.py" in line for line in commands(body))]


def test_the_page_has_its_four_examples() -> None:
    assert set(doc_files()) == {"my_nets.py", "make_shapes.py", "my_data.py", "my_datamodule.py"}
    assert len(TRAIN_BLOCKS) == 4
    for name, text in doc_files().items():
        assert len(text.splitlines()) <= 32, f"{name} is meant as a short example"


@pytest.mark.parametrize("body", TRAIN_BLOCKS, ids=["model", "image_folder", "torch_dataset", "datamodule"])
def test_each_example_of_the_page_trains_as_written(body: str, workdir: Path, make_cfg, tmp_path: Path) -> None:
    for line in commands("\n".join(b for _, b in blocks("bash"))):  # the page's scripts first (make_shapes.py)
        if not line.startswith("python train.py"):
            run_command(line, make_cfg, tmp_path)
    for index, line in enumerate(commands(body)):
        if not line.startswith("python train.py"):
            continue
        summary = run_command(line, make_cfg, tmp_path / f"run{index}")
        assert summary["status"] == "completed", (line, summary["stop_reason"])
        assert summary["epochs_run"] == 2 and summary["metrics"]["test"], line
        words = dict(word.lstrip("+").split("=", 1) for word in shlex.split(line)[2:])
        if "model._target_" in words:  # model=mlp's own keys were dropped; the user's options stay
            model = summary["config"]["model"]
            assert model["_target_"] == words["model._target_"]
            assert set(model) == {"_target_"} | {key.split(".", 1)[1] for key in words if key.startswith("model.")}
    if "image_folder" in body:
        jpegs = sorted(workdir.glob("shapes/*/*.jpg"))
        assert len(jpegs) == 80 and Image.open(jpegs[0]).format == "JPEG"


@pytest.fixture
def more_nets(workdir: Path) -> None:
    """Constructors that do not fit, beside the page's my_nets.py, under the names its error examples use."""
    extra = """

class Fixed(nn.Module):
    def __init__(self, hidden=8):
        super().__init__()
        self.layer = nn.Linear(4, 3)


class Wide(nn.Module):
    def __init__(self, input_shape, num_outputs, width):
        super().__init__()
        self.layer = nn.Linear(math.prod(input_shape), num_outputs)
"""
    with (workdir / "my_nets.py").open("a") as handle:
        handle.write(extra)


ERROR_CASES = {
    "Fixed": ["model._target_=my_nets.Fixed"],
    "Wide": ["model._target_=my_nets.Wide"],
    "my_netz": ["model._target_=my_netz.ResidualMLP"],
    "dropout": ["model._target_=my_nets.ResidualMLP", "regularizer=dropout"],
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_a_model_that_does_not_fit_gets_the_pages_one_sentence(case: str, more_nets: None, make_cfg) -> None:
    (text,) = [body for info, body in blocks("text")]
    expected = [line.removeprefix("error: ") for line in text.splitlines()]
    with pytest.raises(Exception) as raised:
        build(make_cfg(*ERROR_CASES[case]))
    error = find_config_error(raised.value)
    assert isinstance(error, ConfigError), raised.value
    assert str(error) in expected


def test_an_option_set_on_purpose_that_the_class_lacks_is_refused(workdir: Path, make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"^model\.hidden does not apply to model residualmlp; its options are: "):
        build(make_cfg("model._target_=my_nets.ResidualMLP", "model.hidden=[64]"))


def test_a_bundled_model_keeps_refusing_options_it_does_not_take(make_cfg) -> None:
    with pytest.raises(ConfigError, match=r"^model\.width does not apply to model mlp"):
        build(make_cfg("+model.width=3"))


def test_the_streaming_path_has_the_in_memory_splits_and_epoch_orders() -> None:
    """Same examples in train/val/test and the same shuffled batches, from the same seed."""
    in_memory = Iris(batch_size=16, seed=7, standardize=False)
    in_memory.setup()
    raw = torch.as_tensor(__import__("sklearn.datasets").datasets.load_iris().data, dtype=torch.float32)
    labels = torch.as_tensor(__import__("sklearn.datasets").datasets.load_iris().target)
    streaming = DatasetData(torch.utils.data.TensorDataset(raw, labels), batch_size=16, seed=7, num_workers=0)
    streaming.setup()
    for split in ("train", "val", "test"):
        assert torch.equal(raw[streaming.indices[split]], in_memory.splits[split][0]), split
    assert streaming.spec == in_memory.spec.__class__("tensordataset", (4,), 3, "multiclass")
    for epoch in (0, 3):
        memory_batches, stream_loader = in_memory.train_dataloader(), streaming.train_dataloader()
        memory_batches.set_epoch(epoch)
        stream_loader.sampler.set_epoch(epoch)
        for (x_memory, y_memory), (x_stream, y_stream) in zip(memory_batches, stream_loader, strict=True):
            assert torch.equal(x_memory, x_stream) and torch.equal(y_memory, y_stream)


def write_jpegs(root: Path, per_class: int = 12) -> None:
    generator = torch.Generator().manual_seed(0)
    for label, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            noise = torch.randint(0, 40, (20, 24, 3), generator=generator, dtype=torch.uint8).numpy()
            pixels = (noise + torch.tensor(colour, dtype=torch.uint8).numpy()).clip(0, 255)
            Image.fromarray(pixels.astype("uint8")).save(root / label / f"{index}.jpg", quality=85)


def test_a_folder_of_jpegs_streams_through_dataloader_workers(make_cfg, tmp_path: Path) -> None:
    write_jpegs(tmp_path / "colours")
    root = tmp_path / "colours"
    cfg = make_cfg("dataset=image_folder", f"dataset.root={root}", "model=lenet", "trainer.max_epochs=3")
    datamodule, task, trainer = build(cfg)
    assert datamodule.spec.input_shape == (3, 32, 32) and datamodule.spec.num_outputs == 2
    loader = datamodule.train_dataloader()
    assert loader.num_workers == 2 and loader.pin_memory is False  # CPU training: nothing to pin for
    assert loader.batch_size == 32 and len(loader.dataset) == datamodule.train_size
    assert train(cfg) is not None
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["data"]["input_shape"] == [3, 32, 32]
    assert summary["metrics"]["test"]["acc"] == 1.0, "red and blue are easy to tell apart"


def test_a_folder_that_is_not_there_is_one_sentence(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(Exception) as raised:
        build(make_cfg("dataset=image_folder", f"dataset.root={tmp_path / 'nothing'}"))
    error = find_config_error(raised.value)
    assert str(error).startswith(f"dataset.root={tmp_path / 'nothing'} is not a folder; give the folder")


OPTIONS = [
    f"{group}={path.stem}"
    for group in ("optimizer", "initializer", "regularizer")
    for path in sorted((CONFIGS / group).glob("*.yaml"))
    if not (group == "optimizer" and path.stem == "perceptron_rule")  # Rosenblatt's rule: model=perceptron only
    and not (group == "regularizer" and path.stem in ("dropout", "batchnorm", "augment"))
] + ["logger=[csv,tensorboard]", "scheduler=cosine", "tune=lr"]


@pytest.mark.slow
@pytest.mark.parametrize("option", OPTIONS)
def test_a_users_model_trains_with_every_option(option: str, workdir: Path, make_cfg) -> None:
    """Every optimizer, initializer and regularizer that is not a setting of a bundled model's own."""
    summary_dir = workdir / "run"
    train(make_cfg("model._target_=my_nets.ResidualMLP", option, "trainer.max_epochs=2", output_dir=summary_dir))
    summary = json.loads((summary_dir / "summary.json").read_text())
    assert summary["status"] in ("completed", "diverged") and summary["epochs_run"] >= 1, summary["stop_reason"]
