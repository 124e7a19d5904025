"""Output units for continuous and 0/1 targets, each with the cost its distribution gives.

The course notes' table, one row per class here (the network's last layer stays linear; the
output unit is applied inside the loss, as `BCEWithLogitsLoss` applies its sigmoid):

| target | distribution | output unit | cost |
|---|---|---|---|
| 0/1, squared error | (none: the 1986 cost) | sigmoid or linear | `SquaredError` |
| continuous | Gaussian, variance fixed or learned | linear (+ softplus variance) | `GaussianNLL` |
| continuous, several values per input | mixture of K Gaussians | softmax, linear, exp | `MixtureDensityNLL` |

Each has `predict(outputs)`: the point prediction in the targets' space (a probability, a mean),
which accuracy-within-a-tolerance and the pictures read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


class SquaredError(nn.Module):
    """Squared error between the output unit's value y and the target t.

    `summed=True` is the 1986 cost (Rumelhart, Hinton & Williams): E = 1/2 sum over the batch's
    patterns and outputs of (t - y)^2. The 1/2 makes dE/dy = (y - t); the sum (not a mean) makes
    the step grow with the number of patterns, so with full batch one step is one "sweep" of the
    paper with its epsilon. `summed=False` is the mean squared error. `sigmoid=True` puts the
    logistic unit on the output (y = sigmoid(output)), the paper's unit for 0/1 targets; then an
    output > 0 is y > 0.5, so accuracy at the 0.5 threshold is unchanged.
    """

    def __init__(self, summed: bool = False, sigmoid: bool = False) -> None:
        super().__init__()
        self.summed, self.sigmoid = summed, sigmoid

    def predict(self, outputs: Tensor) -> Tensor:
        return torch.sigmoid(outputs) if self.sigmoid else outputs

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        error = self.predict(outputs) - targets.reshape(outputs.shape).to(outputs.dtype)
        return 0.5 * error.pow(2).sum() if self.summed else error.pow(2).mean()

    def extra_repr(self) -> str:
        return f"summed={self.summed}, sigmoid={self.sigmoid}"


class GaussianNLL(nn.Module):
    """-log N(t; mu, var) per target value, averaged (torch's `GaussianNLLLoss`, `full=True`).

    With `variance=None` the network gives two outputs per target value, the mean and s, and the
    variance is softplus(s) + `min_variance` (positive, and linear for large s, so it does not
    explode like exp). With a fixed variance v the network gives the mean alone and the loss is
    (t - mu)^2 / (2 v) + const: v = 0.5 is the mean squared error plus a constant, the same
    gradients (the Gaussian row of the notes' table: "Gaussian cross-entropy (MSE)").
    """

    def __init__(self, targets: int, variance: float | None = None, min_variance: float = 1e-6) -> None:
        super().__init__()
        self.targets, self.variance, self.min_variance = targets, variance, min_variance
        self.nll = nn.GaussianNLLLoss(full=True, eps=min_variance)

    def mean_and_variance(self, outputs: Tensor) -> tuple[Tensor, Tensor]:
        if self.variance is not None:
            return outputs, torch.full_like(outputs, float(self.variance))
        mean, raw = outputs[..., : self.targets], outputs[..., self.targets :]
        return mean, F.softplus(raw) + self.min_variance

    def predict(self, outputs: Tensor) -> Tensor:
        return self.mean_and_variance(outputs)[0]

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        mean, variance = self.mean_and_variance(outputs)
        return self.nll(mean, targets.reshape(mean.shape).to(mean.dtype), variance)

    def extra_repr(self) -> str:
        return f"targets={self.targets}, variance={'learned' if self.variance is None else self.variance}"


class MixtureDensityNLL(nn.Module):
    """Bishop's mixture density network (1994): p(t | x) = sum_k pi_k N(t; mu_k, sigma_k^2 I).

    The network's outputs per example, in this order: K logits of the mixing weights (softmax),
    K x D means (linear), K log-scales (sigma_k = exp, one per component as in the paper).
    The negative log-likelihood is computed in log-space, -logsumexp_k(log pi_k + log N_k), so a
    point far from every component gives a large finite loss instead of log(0).
    """

    def __init__(self, targets: int, components: int, min_log_scale: float = -7.0) -> None:
        super().__init__()
        self.targets, self.components, self.min_log_scale = targets, components, min_log_scale

    @staticmethod
    def outputs_needed(targets: int, components: int) -> int:
        return components * (targets + 2)

    def parameters_of(self, outputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log pi (..., K), mu (..., K, D), log sigma (..., K)) from the network's outputs."""
        k, d = self.components, self.targets
        log_pi = F.log_softmax(outputs[..., :k], dim=-1)
        mu = outputs[..., k : k + k * d].unflatten(-1, (k, d))
        log_sigma = outputs[..., k + k * d :].clamp(min=self.min_log_scale)
        return log_pi, mu, log_sigma

    def log_likelihood(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """log p(t | x) per example."""
        log_pi, mu, log_sigma = self.parameters_of(outputs)
        t = targets.reshape(*mu.shape[:-2], 1, self.targets).to(mu.dtype)
        squared = ((t - mu) * torch.exp(-log_sigma).unsqueeze(-1)).pow(2).sum(-1)
        log_normal = -0.5 * squared - self.targets * (log_sigma + 0.5 * LOG_2PI)
        return torch.logsumexp(log_pi + log_normal, dim=-1)

    def predict(self, outputs: Tensor) -> Tensor:
        """The conditional mean sum_k pi_k mu_k (what squared error would learn)."""
        log_pi, mu, _ = self.parameters_of(outputs)
        return (log_pi.exp().unsqueeze(-1) * mu).sum(-2)

    def forward(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return -self.log_likelihood(outputs, targets).mean()

    def extra_repr(self) -> str:
        return f"targets={self.targets}, components={self.components}"
