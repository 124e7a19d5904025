"""Per-epoch overlap scores of pixel classification: mean IoU and dice, from torchmetrics.

Pixel accuracy is the task's `acc` (counted per pixel by the readout); these two add what
accuracy hides on mostly-background images. Both are accumulated over every pixel of the epoch
(global, not averaged per batch, so they do not depend on the batch size) and reduced across DDP
ranks by torchmetrics:

- `iou`: intersection over union per class, TP / (TP + FP + FN), averaged over the classes
  (torchmetrics' `MulticlassJaccardIndex`, macro); for a binary mask, the foreground's
  (`BinaryJaccardIndex`);
- `dice`: 2 TP / (2 TP + FP + FN) per class, averaged over the classes (torchmetrics'
  `DiceScore`, global aggregation, macro); for a binary mask, the foreground's.
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import BinaryJaccardIndex, MulticlassJaccardIndex
from torchmetrics.segmentation import DiceScore

from dlbench.data.spec import DataSpec


class SegmentationScores(MetricCollection):
    """`iou` and `dice` of hard predictions (arg-max class, or foreground at probability 0.5)."""

    def __init__(self, spec: DataSpec) -> None:
        self.binary = spec.kind == "binary"
        metrics: dict[str, Metric]
        if self.binary:
            metrics = {
                "iou": BinaryJaccardIndex(),
                "dice": DiceScore(
                    2, include_background=False, average="macro", aggregation_level="global", input_format="index"
                ),
            }
        else:
            classes = spec.num_outputs
            metrics = {
                "iou": MulticlassJaccardIndex(classes, average="macro"),
                "dice": DiceScore(classes, average="macro", aggregation_level="global", input_format="index"),
            }
        super().__init__(metrics, compute_groups=False)

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        if self.binary:
            predicted, truth = (outputs > 0).long().squeeze(1), targets.long().squeeze(1)
        else:
            predicted, truth = outputs.argmax(1), targets.long()
        for metric in self.values(copy_state=False):
            metric.update(predicted, truth)

    def take(self) -> dict[str, Tensor]:
        """The epoch's scores, and a fresh start for the next (what a run's task and a population's
        member both do at an epoch's end)."""
        values = self.compute()
        self.reset()
        return values
