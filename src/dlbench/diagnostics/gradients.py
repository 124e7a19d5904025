"""Gradient checking: autograd's gradients against centred finite differences, in float64.

The notes' rule of thumb for the relative error |a - n| / max(|a|, |n|): below 1e-7 is
excellent, up to 1e-4 is fine for networks with kinks (ReLU, max-pooling), above 1e-2 the
backward pass is most likely wrong. Float64 is what makes such small errors measurable.

Kinks: when p - eps and p + eps put a ReLU's input (or a max-pooling winner) on different sides
of its kink, the centred difference averages two slopes and disagrees with any backward pass,
right or wrong. The notes suggest watching for that; here an entry counts as a kink crossing when
autograd agrees with one of the one-sided differences (f(p + eps) - f(p)) / eps or
(f(p) - f(p - eps)) / eps and those two disagree with each other by far more: a wrong backward
disagrees with both. Kink crossings are counted and left out of the worst error.
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
    worst_error: float  # worst relative error over the checked entries that crossed no kink
    passed: bool
    kinks: int = 0  # checked entries whose finite differences crossed a kink (not judged)


def relative_error(analytic: Tensor, numeric: Tensor, floor: float) -> Tensor:
    """|a - n| / max(|a|, |n|, floor): the floor keeps gradients that are zero on both sides from
    dividing rounding noise by nothing."""
    scale = torch.maximum(analytic.abs(), numeric.abs()).clamp_min(floor)
    return (analytic - numeric).abs() / scale


def crossed_kink(analytic: Tensor, forward: Tensor, backward: Tensor, floor: float) -> Tensor:
    """Entries where autograd matches one one-sided difference and the two sides disagree: the
    finite-difference step crossed a kink (smooth points give forward ~ backward)."""
    to_side = torch.minimum(relative_error(analytic, forward, floor), relative_error(analytic, backward, floor))
    spread = relative_error(forward, backward, floor)
    return spread > 10 * to_side


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
    with torch.no_grad():
        centre = loss_of(model).item()
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
        above_all = torch.empty(len(entries), dtype=torch.float64)
        below_all = torch.empty(len(entries), dtype=torch.float64)
        with torch.no_grad():
            for position, index in enumerate(entries.tolist()):
                original = flat[index].item()
                flat[index] = original + eps
                above = loss_of(model).item()
                flat[index] = original - eps
                below = loss_of(model).item()
                flat[index] = original
                above_all[position], below_all[position] = above, below
        chosen = analytic.view(-1)[entries].cpu()
        errors = relative_error(chosen, (above_all - below_all) / (2 * eps), floor)
        kinks = (errors > tolerance) & crossed_kink(
            chosen, (above_all - centre) / eps, (centre - below_all) / eps, floor
        )
        judged = errors[~kinks]
        worst = float(judged.max()) if len(judged) else 0.0
        results.append(
            TensorCheck(name, tuple(parameter.shape), len(entries), worst, worst <= tolerance, int(kinks.sum()))
        )
    return results


def format_table(results: list[TensorCheck], tolerance: float) -> str:
    """A plain-text table, one line per parameter tensor, and a verdict."""
    width = max([len(r.name) for r in results] + [9])
    lines = [f"{'parameter':<{width}}  {'shape':<18} {'checked':>7}  {'kinks':>5}  {'worst rel. error':>16}  result"]
    for r in results:
        shape = "x".join(map(str, r.shape)) or "scalar"
        lines.append(
            f"{r.name:<{width}}  {shape:<18} {r.checked:>7}  {r.kinks:>5}  {r.worst_error:>16.3e}  "
            f"{'PASS' if r.passed else 'FAIL'}"
        )
    failed = [r.name for r in results if not r.passed]
    verdict = "PASS" if not failed else f"FAIL ({len(failed)} of {len(results)} tensors)"
    lines.append(
        f"gradient check: {verdict}; tolerance {tolerance:g} on the relative error, float64, centred differences"
    )
    kinks = sum(r.kinks for r in results)
    if kinks:
        lines.append(f"{kinks} checked entries crossed a kink (ReLU, max-pooling) within the step and were not judged")
    return "\n".join(lines)
