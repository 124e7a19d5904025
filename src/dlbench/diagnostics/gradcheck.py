"""Gradient checking: autograd's gradients against centred finite differences, in float64.

The notes' rule of thumb for the relative error |a - n| / max(|a|, |n|): below 1e-7 is
excellent, up to 1e-4 is fine for networks with kinks (ReLU, max-pooling), above 1e-2 the
backward pass is most likely wrong. Float64 is what makes such small errors measurable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

LossFn = Callable[[nn.Module], Tensor]


@dataclass
class TensorCheck:
    """The result for one parameter tensor."""

    name: str
    shape: tuple[int, ...]
    checked: int  # entries compared (a random sample for large tensors)
    worst_error: float  # worst relative error over the checked entries
    passed: bool


def relative_error(analytic: Tensor, numeric: Tensor, floor: float) -> Tensor:
    """|a - n| / max(|a|, |n|, floor): the floor keeps gradients that are zero on both sides from
    dividing rounding noise by nothing."""
    scale = torch.maximum(analytic.abs(), numeric.abs()).clamp_min(floor)
    return (analytic - numeric).abs() / scale


def check_gradients(
    model: nn.Module,
    loss_of: LossFn,
    eps: float = 1e-5,
    tolerance: float = 1e-4,
    floor: float = 1e-6,
    max_entries: int = 20,
    seed: int = 0,
) -> list[TensorCheck]:
    """Compare d loss / d parameter from autograd with (f(p + eps) - f(p - eps)) / 2 eps.

    `loss_of(model)` returns a scalar loss on a fixed batch. The model is copied, cast to float64
    and put in eval mode (dropout and batch statistics would make the loss random). For tensors
    with more than `max_entries` entries a random sample of entries is checked: finite
    differences cost two forward passes per entry.
    """
    model = copy.deepcopy(model).double().eval()
    generator = torch.Generator().manual_seed(seed)
    model.zero_grad(set_to_none=True)
    loss_of(model).backward()
    results = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        analytic = parameter.grad.detach().clone() if parameter.grad is not None else torch.zeros_like(parameter)
        flat = parameter.data.view(-1)
        count = flat.numel()
        if count > max_entries:
            entries = torch.randperm(count, generator=generator)[:max_entries]
        else:
            entries = torch.arange(count)
        numeric = torch.empty(len(entries), dtype=torch.float64)
        with torch.no_grad():
            for position, index in enumerate(entries.tolist()):
                original = flat[index].item()
                flat[index] = original + eps
                above = loss_of(model).item()
                flat[index] = original - eps
                below = loss_of(model).item()
                flat[index] = original
                numeric[position] = (above - below) / (2 * eps)
        errors = relative_error(analytic.view(-1)[entries].cpu(), numeric, floor)
        worst = float(errors.max()) if len(errors) else 0.0
        results.append(TensorCheck(name, tuple(parameter.shape), len(entries), worst, worst <= tolerance))
    return results


def format_table(results: list[TensorCheck], tolerance: float) -> str:
    """A plain-text table, one line per parameter tensor, and a verdict."""
    width = max([len(r.name) for r in results] + [9])
    lines = [f"{'parameter':<{width}}  {'shape':<18} {'checked':>7}  {'worst rel. error':>16}  result"]
    for r in results:
        shape = "x".join(map(str, r.shape)) or "scalar"
        lines.append(f"{r.name:<{width}}  {shape:<18} {r.checked:>7}  {r.worst_error:>16.3e}  {'PASS' if r.passed else 'FAIL'}")
    failed = [r.name for r in results if not r.passed]
    verdict = "PASS" if not failed else f"FAIL ({len(failed)} of {len(results)} tensors)"
    lines.append(f"gradient check: {verdict}; tolerance {tolerance:g} on the relative error, float64, centred differences")
    return "\n".join(lines)
