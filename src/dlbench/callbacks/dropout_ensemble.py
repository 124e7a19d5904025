"""Dropout as an ensemble: weight scaling at test time against the geometric mean of sampled sub-networks.

A net trained with dropout is an ensemble of the 2^d sub-networks its masks pick (d droppable
units), all sharing weights. Predicting with the whole net and its weights scaled by the keep
probability (PyTorch's inverted dropout does the scaling while training, so evaluation mode is
the scaled net) is the cheap stand-in for the ensemble's prediction; for a softmax output it is
exactly the normalised geometric mean of the sub-networks' predictions when there is one layer
of dropout, and close to it with more (Srivastava et al. 2014, section 7.5; Baldi & Sadowski
2013). `DropoutEnsemble` measures that on the test split: it samples `samples` masks, takes the
normalised geometric mean of their class probabilities (the mean of their log-probabilities,
renormalised), and logs beside `test/loss` and `test/acc`:

- `test/scaled_nll`, `test/scaled_acc`: the weight-scaled net (evaluation mode);
- `test/ensemble_nll`, `test/ensemble_acc`: the geometric mean of the sampled sub-networks.

Only dropout layers are switched to training mode for the samples (batch norm keeps its running
statistics); the samples are drawn from a generator fixed by `seed`, so a run gives the same numbers.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from dlbench.errors import require


def geometric_mean_log_probs(log_probs: Tensor) -> Tensor:
    """(samples, N, C) log-probabilities -> (N, C): the normalised geometric mean of the samples."""
    mean = log_probs.mean(dim=0)
    return mean - torch.logsumexp(mean, dim=-1, keepdim=True)


class DropoutEnsemble(pl.Callback):
    """Logs the weight-scaled net's and the sampled ensemble's test NLL and accuracy (see the module).

    Args:
        samples: sub-networks (dropout masks) in the geometric mean.
        seed: the masks' random generator.
    """

    def __init__(self, samples: int = 100, seed: int = 0) -> None:
        self.samples, self.seed = int(samples), int(seed)

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for name, value in self.test_metrics(pl_module, getattr(trainer, "datamodule", None)).items():
            pl_module.log(name, value)

    def test_metrics(self, pl_module: pl.LightningModule, datamodule: object) -> dict[str, float]:
        """The four numbers on `datamodule`'s test split, for the network as it is now (a run's
        tested weights; a population's member, its own, `dlbench.population.fit`)."""
        network: nn.Module = getattr(pl_module, "model", pl_module)
        dropouts = [module for module in network.modules() if isinstance(module, nn.Dropout)]
        splits = getattr(datamodule, "splits", None)
        require(
            bool(dropouts) and bool(splits) and getattr(getattr(pl_module, "spec", None), "kind", None) == "multiclass",
            "callbacks.dropout_ensemble needs a classifier with dropout (model.dropout > 0) on an in-memory "
            "multiclass dataset; set model.dropout=0.5 or remove the callback.",
        )
        inputs, targets = splits["test"]
        device = next(network.parameters()).device
        inputs, targets = inputs.to(device), targets.to(device).reshape(-1)
        was_training = network.training
        network.eval()
        with torch.no_grad():
            scaled = torch.log_softmax(network(inputs), dim=-1)
            for module in dropouts:
                module.train()
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(self.seed)
                sampled = torch.stack([torch.log_softmax(network(inputs), dim=-1) for _ in range(self.samples)])
        network.train(was_training)
        ensemble = geometric_mean_log_probs(sampled)
        metrics = {}
        for name, log_probs in (("scaled", scaled), ("ensemble", ensemble)):
            metrics[f"test/{name}_nll"] = float(nn.functional.nll_loss(log_probs, targets))
            metrics[f"test/{name}_acc"] = float((log_probs.argmax(-1) == targets).float().mean())
        return metrics
