"""`predict=test` (or `val`): the tested weights' predictions on a split, one row per example, in
`<run dir>/predictions_<split>.csv`.

The weights are those `trainer.test` just evaluated (the best checkpoint after training, or
`ckpt_path` with `train=false`), so the file's predictions are exactly those behind `test/acc`.
Columns: `index` (the example's position in the split), `target`, `predicted`, and for classes
the probability of each (`p_0`, `p_1`, ...); several outputs per example get `_0`, `_1`, ...
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

SPLITS = ("val", "test")


def _readout(task: Any, outputs: Tensor) -> tuple[Tensor, Tensor | None]:
    """(the predicted values, the class probabilities or None) of a batch of outputs."""
    readout = task.readout
    if readout.kind == "multiclass":
        probabilities = torch.softmax(outputs.float(), dim=readout.class_dim)
        return probabilities.argmax(readout.class_dim), probabilities
    if readout.kind == "binary":
        probability = torch.sigmoid(outputs.float()) if readout.logits else outputs.float()
        return (probability > 0.5).long(), torch.cat([1 - probability, probability], dim=-1)
    return readout.predict(outputs), None


def _columns(name: str, values: Tensor) -> dict[str, float | int]:
    flat = values.reshape(-1).tolist()
    if len(flat) == 1:
        return {name: flat[0]}
    return {f"{name}_{index}": value for index, value in enumerate(flat)}


@torch.no_grad()
def write_predictions(task: Any, datamodule: Any, split: str, run_dir: str | Path) -> Path:
    """Write the predictions of `task`'s network on `split` (see the module); return the file."""
    loader = datamodule.val_dataloader() if split == "val" else datamodule.test_dataloader()
    network = task.model
    device = next(network.parameters()).device
    was_training = network.training
    network.eval()
    rows: list[dict[str, Any]] = []
    try:
        for batch in loader:
            inputs, targets = batch[0], batch[1]
            outputs = network(inputs.to(device)).detach().cpu()
            predicted, probabilities = _readout(task, outputs)
            for index in range(len(outputs)):
                row: dict[str, Any] = {"index": len(rows)}
                row.update(_columns("target", targets[index].cpu()))
                row.update(_columns("predicted", predicted[index]))
                if probabilities is not None:
                    row.update(_columns("p", probabilities[index]))
                rows.append(row)
    finally:
        network.train(was_training)
    path = Path(run_dir) / f"predictions_{split}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["index"])
        writer.writeheader()
        writer.writerows(rows)
    return path
