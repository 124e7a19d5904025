"""Image datasets through torchvision's real loaders, on tiny files written in the real formats.

Nothing here touches the network: MNIST and Fashion-MNIST get IDX files, CIFAR-10 gets pickled
batches, all written by the tests; the offline case runs with every download routed to a closed
local port.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torchvision.datasets.cifar

from dlbench.data.augment import Augment, random_crop
from dlbench.data.sequence import SequentialMNIST
from dlbench.data.vision import CIFAR10, MNIST, DatasetUnavailable, Digits, FashionMNIST
from dlbench.run import build
from helpers import run_cli

TRAIN, TEST = 40, 10


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """MNIST's IDX format: big-endian magic (0x803 images, 0x801 labels), sizes, then raw bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    count, rows, cols = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x803, count, rows, cols) + images.astype(np.uint8).tobytes()
    )
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x801, count) + labels.astype(np.uint8).tobytes()
    )


def fake_mnist(root: Path, folder_name: str, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.RandomState(seed)
    parts = {}
    for prefix, count in (("train", TRAIN), ("t10k", TEST)):
        images = rng.randint(0, 256, size=(count, 28, 28)).astype(np.uint8)
        labels = np.arange(count) % 10
        write_idx(root / folder_name / "raw", prefix, images, labels)
        parts[prefix] = (images, labels)
    return parts


def fake_cifar(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    """CIFAR-10's python layout: five pickled training batches, a test batch and batches.meta."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(1)
    parts = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        count = 10
        data = rng.randint(0, 256, size=(count, 3 * 32 * 32)).astype(np.uint8)  # rows: R plane, G plane, B plane
        labels = [int(v) for v in rng.randint(0, 10, size=count)]
        with open(folder / name, "wb") as file:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, file)
        parts[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, file)
    return parts


@pytest.mark.parametrize(("cls", "folder"), [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_idx_files_load_through_torchvision(tmp_path, cls, folder) -> None:
    parts = fake_mnist(tmp_path, folder)
    data = cls(data_dir=str(tmp_path), download=False, val_fraction=10, seed=0)
    data.setup()
    assert data.spec.input_shape == (1, 28, 28) and data.spec.num_outputs == 10
    assert [len(data.splits[name][0]) for name in ("train", "val", "test")] == [TRAIN - 10, 10, TEST]
    # the official test set is the test split, in file order, normalised with the usual statistics
    images, labels = parts["t10k"]
    test_x, test_y = data.splits["test"]
    assert test_y.tolist() == labels.tolist()
    expected = (torch.as_tensor(images, dtype=torch.float32) / 255 - cls.mean[0]) / cls.std[0]
    assert torch.allclose(test_x[:, 0], expected, atol=1e-5)
    # validation stratified: one of each of the 10 classes among 10 held out
    assert sorted(data.splits["val"][1].tolist()) == list(range(10))


def test_seq_mnist_reads_rows_as_time_steps(tmp_path) -> None:
    parts = fake_mnist(tmp_path, "MNIST")
    data = SequentialMNIST(data_dir=str(tmp_path), download=False, val_fraction=10)
    data.setup()
    assert data.spec.sequence and data.spec.input_shape == (28, 28)
    first = (torch.as_tensor(parts["t10k"][0][0], dtype=torch.float32) / 255 - 0.1307) / 0.3081
    assert torch.allclose(data.splits["test"][0][0], first, atol=1e-5)


def test_cifar10_pickled_batches_load_through_torchvision(tmp_path, monkeypatch) -> None:
    """torchvision checks each CIFAR-10 file's MD5, which stand-in files cannot match. This test
    skips only that checksum step (file existence is still required); the pickled batches are then
    read by torchvision's own CIFAR10 code."""
    parts = fake_cifar(tmp_path)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    data = CIFAR10(data_dir=str(tmp_path), download=False, val_fraction=10)
    data.setup()
    assert data.spec.input_shape == (3, 32, 32) and data.spec.is_image
    assert [len(data.splits[name][0]) for name in ("train", "val", "test")] == [40, 10, 10]
    raw, labels = parts["test_batch"]
    test_x, test_y = data.splits["test"]
    assert test_y.tolist() == labels
    red_plane = torch.as_tensor(raw[0, :1024].reshape(32, 32), dtype=torch.float32) / 255
    assert torch.allclose(test_x[0, 0], (red_plane - 0.4914) / 0.2470, atol=1e-5)


def test_missing_files_without_download_say_where_and_what(tmp_path) -> None:
    with pytest.raises(DatasetUnavailable) as error:
        MNIST(data_dir=str(tmp_path), download=False).setup()
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    assert "connect" in message and "place those files" in message


@pytest.mark.slow
def test_offline_download_ends_in_one_message(tmp_path) -> None:
    """download=true with no way out (every URL goes to a closed local port): exit 2, one line."""
    closed = "http://127.0.0.1:9"
    env = {
        "http_proxy": closed,
        "https_proxy": closed,
        "HTTP_PROXY": closed,
        "HTTPS_PROXY": closed,
        "no_proxy": "",
        "NO_PROXY": "",
    }
    result = run_cli(
        "dataset=cifar10",
        f"dataset.data_dir={tmp_path}/data",
        "dataset.download=true",
        f"hydra.run.dir={tmp_path}/run",
        env=env,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "could not be downloaded" in errors[0] and f"{tmp_path}/data/cifar-10-batches-py" in errors[0]
    assert "data_batch_1" in errors[0] and "test_batch" in errors[0]
    assert "connect to the network" in errors[0] and "place those files" in errors[0]
    assert "dataset.download=true" not in errors[0]  # it is already true: no fix that changes nothing


# -- augmentation -----------------------------------------------------------------------------------


def test_crops_and_flips_are_drawn_per_image() -> None:
    images = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(64, 1, 1, 1)
    cropped = random_crop(images, 1, torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape
    assert len(torch.unique(cropped, dim=0)) > 4  # different offsets for different images
    flipped = Augment(hflip=True)(images, torch.Generator().manual_seed(0))
    is_flipped = (flipped == images.flip(-1)).flatten(1).all(1)
    assert 0 < int(is_flipped.sum()) < 64
    assert torch.equal(flipped[~is_flipped], images[~is_flipped])


def test_padding_shows_black_in_normalised_units() -> None:
    fill = torch.tensor([-0.4242])
    images = torch.full((8, 1, 6, 6), 2.0)
    out = Augment(crop_padding=3)(images, torch.Generator().manual_seed(1), fill)
    is_image, is_padding = out == 2.0, (out + 0.4242).abs() < 1e-6
    assert bool((is_image | is_padding).all()) and is_image.any() and is_padding.any()


class _Batches(pl.Callback):
    """Keeps what the model receives, after the data module's transfer hook."""

    def __init__(self) -> None:
        self.train: list[torch.Tensor] = []
        self.val: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.train.append(batch[0].clone())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self.val.append(batch[0].clone())


def test_augmentation_reaches_training_batches_only(make_cfg) -> None:
    cfg = make_cfg(
        "dataset=digits",
        "dataset.augment.noise_std=0.5",
        "dataset.augment.crop_padding=1",
        "trainer.max_epochs=1",
        "+trainer.num_sanity_val_steps=0",
    )
    datamodule, task, trainer = build(cfg)
    seen = _Batches()
    trainer.callbacks.append(seen)
    trainer.fit(task, datamodule=datamodule)
    plain = Digits(**{**{k: v for k, v in cfg.dataset.items() if k not in ("_target_", "augment")}})
    plain.setup()
    raw_train = [x for x, _ in plain.train_dataloader()]
    raw_val = [x for x, _ in plain.val_dataloader()]
    assert len(seen.train) == len(raw_train) and len(seen.val) == len(raw_val)
    assert all(torch.equal(a, b) for a, b in zip(seen.val, raw_val, strict=False))
    assert not any(torch.allclose(a, b) for a, b in zip(seen.train, raw_train, strict=False))
    assert all(a.shape == b.shape for a, b in zip(seen.train, raw_train, strict=False))


def test_augmentation_on_a_table_is_refused(make_cfg) -> None:
    from dlbench.errors import ConfigError

    with pytest.raises(ConfigError, match="augment"):
        build(make_cfg("dataset=iris", "+dataset.augment.hflip=true"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_device_batches_live_on_the_gpu(make_cfg) -> None:
    cfg = make_cfg(
        "dataset=digits",
        "dataset.on_device=true",
        "trainer.accelerator=gpu",
        "trainer.max_epochs=1",
        "dataset.augment.crop_padding=1",
    )
    datamodule, task, trainer = build(cfg)
    seen = _Batches()
    trainer.callbacks.append(seen)
    trainer.fit(task, datamodule=datamodule)
    assert seen.train and all(x.is_cuda for x in seen.train)
    assert datamodule.train_dataloader().inputs.is_cuda
