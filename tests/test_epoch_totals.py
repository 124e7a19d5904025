"""An epoch's row: weighted means over uneven batches and accuracy, as torchmetrics would give."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from dlbench.tasks.epoch_totals import EpochTotals
from dlbench.tasks.output_units import Readout

MULTICLASS, BINARY = Readout("multiclass", True), Readout("binary", True)


def test_means_are_weighted_by_examples_and_accuracy_by_predictions() -> None:
    torch.manual_seed(0)
    totals, reference = (
        EpochTotals(["loss", "penalty"], accuracy=True),
        MulticlassAccuracy(num_classes=4, average="micro"),
    )
    losses, sizes = [], []
    for size in (16, 16, 5):  # the last batch is short: a plain mean of batch means would be wrong
        outputs, targets = torch.randn(size, 7, 4), torch.randint(0, 4, (size, 7))  # 7 predictions per example
        loss = torch.rand(())
        correct, predictions = MULTICLASS.count_correct(outputs, targets)
        totals.update(torch.stack([loss, loss / 10]), size, correct, predictions)
        reference.update(outputs.reshape(-1, 4), targets.reshape(-1))
        losses.append(loss)
        sizes.append(size)
    row = totals.compute()
    expected_loss = sum(float(loss) * size for loss, size in zip(losses, sizes, strict=False)) / sum(sizes)
    assert abs(float(row["loss"]) - expected_loss) < 1e-6
    assert abs(float(row["penalty"]) - expected_loss / 10) < 1e-6
    assert abs(float(row["acc"]) - float(reference.compute())) < 1e-6
    totals.reset()
    assert float(totals.totals.abs().sum()) == 0.0


def test_binary_accuracy_reads_logits() -> None:
    logits, targets = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]]), torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    correct, predictions = BINARY.count_correct(logits, targets)
    reference = BinaryAccuracy()(logits.sigmoid(), targets)
    assert predictions == 4 and float(correct) / predictions == float(reference) == 0.5


@pytest.mark.parametrize("members", [3, 1])  # one: torchmetrics squeezes a one-element compute()
def test_a_member_axis_gives_each_member_the_row_it_gets_alone(members: int) -> None:
    """A population's totals (one row of sums per member) equal each member's own, to the bit."""
    torch.manual_seed(1)
    together = EpochTotals(["loss", "penalty"], accuracy=True, members=members)
    apart = [EpochTotals(["loss", "penalty"], accuracy=True) for _ in range(members)]
    for size in (16, 16, 5):
        outputs, targets = torch.randn(members, size, 7, 4), torch.randint(0, 4, (members, size, 7))
        values = torch.rand(members, 2)
        correct, predictions = MULTICLASS.count_correct(outputs, targets, members=True)
        together.update(values, size, correct, predictions)
        for m, alone in enumerate(apart):
            hits, count = MULTICLASS.count_correct(outputs[m], targets[m])
            assert count == predictions and int(hits) == int(correct[m])
            alone.update(values[m], size, hits, count)
    rows = together.rows("val")
    for m, alone in enumerate(apart):
        assert rows[m] == {f"val/{name}": float(value) for name, value in alone.compute().items()}
    assert together.rows("val") == [{}] * members  # afresh after an epoch's rows
