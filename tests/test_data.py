"""Toy, tabular and sequence datasets; splits; the in-memory batcher against the DataLoader path."""

from __future__ import annotations

import json

import pytest
import torch

from dlbench.data.batches import TensorBatches, reference_loader
from dlbench.data.sequence import Adding, Parity, Sine
from dlbench.data.tabular import BreastCancer, Iris, Wine
from dlbench.data.toy import XOR, Blobs, Circles, MirrorSymmetry, Moons, Spiral
from dlbench.errors import ConfigError
from dlbench.run import train
from helpers import run_cli

GENERATED = [
    (XOR, {"copies": 5, "holdout": True}),
    (Moons, {}),
    (Circles, {}),
    (Spiral, {}),
    (Blobs, {}),
    (Sine, {"num_samples": 50, "length": 8, "noise": 0.1}),
    (Adding, {"num_samples": 50, "length": 8}),
    (Parity, {"num_samples": 50, "length": 8}),
]


def _ready(module):
    module.setup()
    return module


# -- the classic toy problems ----------------------------------------------------------------------


def test_mirror_symmetry_has_all_64_patterns_and_8_symmetric() -> None:
    data = _ready(MirrorSymmetry(holdout=False))
    inputs, targets = data.splits["train"]
    assert inputs.shape == (64, 6) and len(torch.unique(inputs, dim=0)) == 64
    assert targets.shape == (64, 1) and targets.dtype == torch.float32
    assert int(targets.sum()) == 8
    symmetric = inputs[targets[:, 0] == 1]
    assert torch.equal(symmetric, symmetric.flip(1))
    assert data.spec.kind == "binary" and data.spec.num_outputs == 1


def test_xor_is_the_four_points_and_evaluates_on_them() -> None:
    data = _ready(XOR(holdout=False))
    inputs, targets = data.splits["train"]
    assert inputs.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert targets[:, 0].tolist() == [0, 1, 1, 0]
    assert torch.equal(data.splits["val"][0], inputs) and torch.equal(data.splits["test"][0], inputs)
    noisy = _ready(XOR(copies=3, noise=0.05, holdout=False)).splits["train"]
    assert len(noisy[0]) == 16 and (noisy[0][4:] - inputs.repeat(3, 1)).abs().max() < 0.5


@pytest.mark.parametrize(("cls", "options"), GENERATED, ids=lambda value: getattr(value, "name", ""))
def test_every_generator_is_fixed_by_its_seed(cls, options) -> None:
    first, again, other = (_ready(cls(seed=seed, **options)) for seed in (3, 3, 4))
    for split in ("train", "val", "test"):
        assert torch.equal(first.splits[split][0], again.splits[split][0])
        assert torch.equal(first.splits[split][1], again.splits[split][1])
    assert not torch.equal(first.splits["train"][0], other.splits["train"][0])


def test_noise_and_size_options_change_the_clouds() -> None:
    clean = _ready(Moons(num_samples=200, noise=0.0, holdout=True))
    noisy = _ready(Moons(num_samples=200, noise=0.3, holdout=True))
    assert sum(len(part[0]) for part in clean.splits.values()) == 200

    # noiseless moons lie on two unit half circles; noise moves points off them
    def off_circle(points: torch.Tensor, labels: torch.Tensor) -> float:
        centre = torch.where(labels == 1, torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.0]))
        return float(((points - centre).norm(dim=1) - 1).abs().mean())

    x, y = clean.splits["train"]
    assert off_circle(x, y) < 1e-5
    x, y = noisy.splits["train"]
    assert off_circle(x, y) > 0.1
    assert _ready(Spiral(num_classes=4)).spec.num_outputs == 4
    assert _ready(Blobs(num_classes=5)).spec.num_outputs == 5


# -- tabular ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Iris, Wine, BreastCancer])
def test_tables_are_standardised_with_training_statistics(cls) -> None:
    data = _ready(cls(seed=0))
    train_x = data.splits["train"][0]
    assert train_x.mean(0).abs().max() < 1e-5
    assert (train_x.std(0) - 1).abs().max() < 1e-4
    # the other splits use the training statistics, so they are only roughly standard
    assert not torch.allclose(data.splits["test"][0].mean(0), torch.zeros(train_x.shape[1]), atol=1e-5)


@pytest.mark.parametrize("cls", [Iris, BreastCancer])
def test_stratified_splits_keep_the_class_balance(cls) -> None:
    data = _ready(cls(val_fraction=0.2, test_fraction=0.2, seed=1))
    everything = torch.cat([targets.reshape(-1) for _, targets in data.splits.values()]).long()
    classes = torch.unique(everything)
    for split, (_, targets) in data.splits.items():
        labels = targets.reshape(-1).long()
        for label in classes:
            expected = (everything == label).float().mean() * len(labels)
            assert abs(int((labels == label).sum()) - float(expected)) <= 1.0, (split, int(label))


def test_split_sizes_accept_counts_and_are_fixed_by_seed() -> None:
    data = _ready(Wine(val_fraction=30, test_fraction=40, seed=5))
    assert [len(data.splits[name][0]) for name in ("train", "val", "test")] == [108, 30, 40]
    again = _ready(Wine(val_fraction=30, test_fraction=40, seed=5))
    other = _ready(Wine(val_fraction=30, test_fraction=40, seed=6))
    assert torch.equal(data.splits["test"][0], again.splits["test"][0])
    assert not torch.equal(data.splits["test"][0], other.splits["test"][0])


# -- sequences -------------------------------------------------------------------------------------


def test_sine_targets_are_the_next_step_at_every_step() -> None:
    data = _ready(Sine(num_samples=20, length=12, noise=0.0))
    inputs, targets = data.splits["train"]
    assert inputs.shape[1:] == (12, 1) and targets.shape[1:] == (12, 1)
    assert torch.allclose(inputs[:, 1:], targets[:, :-1])
    assert data.spec.sequence and data.spec.per_step and data.spec.kind == "regression"
    assert data.spec.input_shape == (12, 1) and data.spec.num_outputs == 1


def test_adding_problem_targets_the_sum_of_one_marked_value_per_half() -> None:
    data = _ready(Adding(num_samples=40, length=10))
    inputs, targets = data.splits["train"]
    values, markers = inputs[..., 0], inputs[..., 1]
    assert torch.equal(markers[:, :5].sum(1), torch.ones(len(inputs)))
    assert torch.equal(markers[:, 5:].sum(1), torch.ones(len(inputs)))
    assert torch.allclose(targets[:, 0], (values * markers).sum(1))
    assert data.spec.num_outputs == 1 and not data.spec.per_step


def test_parity_targets_count_the_ones() -> None:
    data = _ready(Parity(num_samples=40, length=7))
    inputs, targets = data.splits["train"]
    assert torch.equal(targets[:, 0], inputs[..., 0].sum(1) % 2)
    assert data.spec.kind == "binary" and data.spec.input_shape == (7, 1)


# -- batches ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "shuffle", "world_size"), [(7, True, 1), (32, False, 1), (5, True, 2), (8, False, 3)]
)
def test_in_memory_batches_equal_the_dataloader_reference(batch_size, shuffle, world_size) -> None:
    inputs, targets = torch.randn(23, 3), torch.arange(23)
    for rank in range(world_size):
        fast = TensorBatches(inputs, targets, batch_size, shuffle, seed=11, rank=rank, world_size=world_size)
        slow = reference_loader(inputs, targets, batch_size, shuffle, seed=11, rank=rank, world_size=world_size)
        assert len(fast) == len(slow)
        epochs = []
        for _ in range(3):
            pairs = list(zip(fast, slow, strict=True))
            for (x_fast, y_fast), (x_slow, y_slow) in pairs:
                assert torch.equal(x_fast, x_slow) and torch.equal(y_fast, y_slow)
            epochs.append(torch.cat([y for (_, y), _ in pairs]))
        if shuffle:
            assert not torch.equal(epochs[0], epochs[1])  # reshuffled each epoch


def test_ranks_split_each_epoch_between_them() -> None:
    targets = torch.arange(10)
    seen = torch.cat(
        [
            y
            for rank in range(2)
            for _, y in TensorBatches(torch.zeros(10, 1), targets, 3, True, rank=rank, world_size=2)
        ]
    )
    assert sorted(seen.tolist()) == list(range(10))


def test_full_batch_is_one_step_over_the_whole_training_split() -> None:
    data = _ready(Iris(batch_size="full"))
    batches = list(data.train_dataloader())
    assert len(batches) == 1 and len(batches[0][0]) == data.train_size


def test_both_paths_train_to_the_same_numbers(make_cfg, tmp_path) -> None:
    """Same seed, same batches in the same order: the two paths give the same training history."""
    histories = []
    for in_memory in ("true", "false"):
        cfg = make_cfg(
            "dataset=wine", f"dataset.in_memory={in_memory}", "trainer.max_epochs=3", output_dir=tmp_path / in_memory
        )
        train(cfg)
        summary = json.loads((tmp_path / in_memory / "summary.json").read_text())
        histories.append([(row["train/loss"], row["val/loss"]) for row in summary["history"]])
    assert len(histories[0]) == 3
    assert histories[0] == histories[1]


# -- bad input (the values alone are checked by the schema: tests/test_refusals.py) ----------------


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: Iris(test_fraction=2), "classes"),
        (lambda: Adding(length=1), "dataset.length=1"),
        (lambda: Iris(augment={"hflip": True}), "augment"),
    ],
)
def test_bad_data_options_are_one_sentence(build, words) -> None:
    with pytest.raises(ConfigError) as error:
        _ready(build())
    message = str(error.value)
    assert words in message and "\n" not in message


def test_cli_rejects_a_zero_length_before_training(tmp_path) -> None:
    result = run_cli("dataset=adding", "dataset.length=0", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() + result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "dataset.length=0" in errors[0]
    assert not (tmp_path / "run" / "summary.json").exists()
