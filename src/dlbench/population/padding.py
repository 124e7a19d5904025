"""Members of different hidden widths on one stacked network: each padded to the widest with zeros.

`model.hidden` is a per-member key for plain MLPs of one depth (`grouping.WIDTH_KEYS`): member `m`'s
parameter of shape (h_m, d) is stacked as rows [:h_m] of a (members, h_max, d) tensor whose other
rows are zero, and so on for every dimension (padding is always at the end of a dimension). A
padded unit computes exactly nothing for its member, however the network runs:

- its incoming weights and bias are zero, so its pre-activation is 0; its outgoing weights are
  zero, so whatever its activation gives at 0 (sigmoid: 0.5) is multiplied by 0 before it reaches
  the next layer: each member's output is its own network's (the extra terms add +0 to each dot
  product; only the order of the sums may change, by float32 rounding, as batched products do);
- its gradients are set to exactly zero after every backward pass (`StackedNetwork.mask_grads`):
  an outgoing weight's gradient would otherwise be the activation at 0 times the error;
- so its optimizer state stays zero too (SGD momentum, Adam's and RMSprop's averages: a zero
  gradient into zero state), weight decay of a zero weight adds zero, an L1/L2 penalty over zeros
  adds zero (and its gradient is masked), and max-norm rescaling, which is applied to the member's
  own slice, never touches it.

Everything read back for a member (its checkpoint's `state_dict` and optimizer state, the weights
put into its own module for pictures and tests, `summary.json`'s parameter count, which counts its
own module) is cut to its own shape with `own_part`: the padding never leaves the population.

Cost: memory. The stacked parameters, their gradients, their optimizer state and the checkpoint
snapshots are as large as if every member were the widest (docs/populations.md gives the measured
bytes); the arithmetic too is the widest member's, for every member.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def own_part(tensor: Tensor, shape: Sequence[int]) -> Tensor:
    """The leading `shape` block of `tensor` (a view): a member's own part of its padded row."""
    if tuple(tensor.shape) == tuple(shape):
        return tensor
    return tensor[tuple(slice(0, size) for size in shape)]


def widest(shapes: Sequence[Sequence[int]]) -> tuple[int, ...] | None:
    """The shape every member's tensor is padded to (the largest size per dimension), None when the
    shapes have different numbers of dimensions (which no padding reconciles)."""
    if len({len(shape) for shape in shapes}) != 1:
        return None
    return tuple(max(sizes) for sizes in zip(*shapes, strict=True))


def stack_padded(tensors: Sequence[Tensor]) -> tuple[Tensor, Tensor | None]:
    """The members' tensors stacked (members, *widest) with zeros after each one's own part, and
    the mask of the members' own entries (None when every member has the widest shape)."""
    shape = widest([tuple(tensor.shape) for tensor in tensors])
    if shape is None:
        raise ValueError(f"members' parameters of shapes {[tuple(t.shape) for t in tensors]} cannot be stacked")
    if all(tuple(tensor.shape) == shape for tensor in tensors):
        return torch.stack([tensor.detach() for tensor in tensors]), None
    stacked = tensors[0].new_zeros((len(tensors), *shape))
    mask = torch.zeros((len(tensors), *shape), dtype=torch.bool, device=stacked.device)
    for member, tensor in enumerate(tensors):
        own_part(stacked[member], tensor.shape).copy_(tensor.detach())
        own_part(mask[member], tensor.shape).fill_(True)
    return stacked, mask
