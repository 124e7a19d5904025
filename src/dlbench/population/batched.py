"""A faster way through the simplest networks: a chain of layers run on (members, batch, ...) directly.

`vmap(functional_call(...))` takes any architecture, but on a tiny network its per-call cost (the
parameter swap of `functional_call`, vmap's batching of every operation) is most of a step:
measured on 64 Iris MLPs (4-16-3, batch 16, one CPU thread), a forward took 0.92 ms through vmap
and 0.09 ms as the three batched operations it is. Networks that are a plain chain of layers
(MLP, perceptron, MLP autoencoder: `chain_of`) run here layer by layer on the stacked parameters:

- Linear: `baddbmm(bias, x, weight^T)` over members (the batched `addmm` a Linear layer runs);
- Flatten/Unflatten: the same reshape one dimension further right;
- elementwise activations (ReLU, sigmoid, tanh, leaky ReLU, ELU, GELU, softplus, SiLU): the very
  module, applied to the stacked tensor, or where the members' activations differ, each to its
  own members' rows; maxout: its max, one dimension further right.

Any other layer (convolutions, recurrent layers, PReLU's parameter, ...) leaves the network to vmap.
Both ways equal each member's standalone forward to float32 rounding (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from dlbench.models.activations import Maxout

ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.ELU, nn.GELU, nn.Softplus, nn.SiLU, nn.Identity)
Step = Callable[[Tensor, dict[str, Tensor]], Tensor]


def chain_of(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """(name, layer) of a network whose forward is its layers one after another, else None."""
    from dlbench.models.autoencoder import Autoencoder
    from dlbench.models.mlp import MLP
    from dlbench.models.perceptron import Perceptron

    if type(model) is MLP:
        layers = [("layers." + name, layer) for name, layer in model.layers.named_children()]
    elif type(model) is Perceptron:
        layers = [("flatten", model.flatten), ("linear", model.linear)]
    elif type(model) is Autoencoder and model.noise_std == 0 and model.sparsity == 0:
        layers = [("encoder." + name, layer) for name, layer in model.encoder.named_children()]
        layers += [("decoder." + name, layer) for name, layer in model.decoder.named_children()]
    else:
        return None
    return layers if all(_step(name, layer) is not None for name, layer in layers) else None


def _step(name: str, layer: nn.Module) -> Step | None:
    """The layer as an operation on (members, batch, ...) with the stacked parameters, or None."""
    if type(layer) is nn.Linear:
        weight, bias = f"{name}.weight", f"{name}.bias"
        if layer.bias is None:
            return lambda x, p: torch.bmm(x, p[weight].transpose(1, 2))
        return lambda x, p: torch.baddbmm(p[bias].unsqueeze(1), x, p[weight].transpose(1, 2))
    if type(layer) is nn.Flatten:
        start, end = layer.start_dim, layer.end_dim
        if start < 1 or end != -1:
            return None
        return lambda x, p: x.flatten(start + 1, end)
    if type(layer) is nn.Unflatten:
        dim, sizes = layer.dim, tuple(layer.unflattened_size)
        if not isinstance(dim, int) or dim < 1:
            return None
        return lambda x, p: x.unflatten(dim + 1, sizes)
    if type(layer) is Maxout:
        pieces = layer.pieces
        return lambda x, p: x.unflatten(2, (x.shape[2] // pieces, pieces)).amax(dim=3)
    if type(layer) in ELEMENTWISE and not list(layer.parameters()):
        return lambda x, p: layer(x)
    return None


def _per_member(layers: list[nn.Module]) -> Step:
    """Members whose elementwise activations differ (`model.activation` is a per-member key): each
    distinct activation applied to its members' rows, the rows put back in member order. An
    elementwise function of a member's rows gives what it gives on that member alone."""
    kinds: dict[str, list[int]] = {}
    for member, layer in enumerate(layers):
        kinds.setdefault(repr(layer), []).append(member)
    groups = [(layers[members[0]], torch.tensor(members)) for members in kinds.values()]
    order = torch.argsort(torch.cat([members for _, members in groups]))

    def step(x: Tensor, p: dict[str, Tensor]) -> Tensor:
        parts = [layer(x.index_select(0, members.to(x.device))) for layer, members in groups]
        return torch.cat(parts).index_select(0, order.to(x.device))

    return step


def _linears_with_same_bias(layers: list[nn.Module]) -> bool:
    """Linear layers of any widths, all with a bias or all without: one batched product on the
    padded stacked weights (`_step` reads only the parameters' names)."""
    return all(type(layer) is nn.Linear for layer in layers) and len({layer.bias is None for layer in layers}) == 1


def chains_of(models: list[nn.Module]) -> list[Step] | None:
    """The steps of the members' chain of layers (`chain_of`), None if any member is no chain. The
    members' layers agree position by position except elementwise activations, which may differ,
    and Linear layers' widths: members of other widths (`model.hidden`) are padded to the widest
    with zeros that stay zero (`dlbench.population.padding`), which the batched products run as
    they are."""
    chains = [chain_of(model) for model in models]
    if any(chain is None for chain in chains) or len({len(chain) for chain in chains}) != 1:
        return None
    steps: list[Step] = []
    for position in zip(*chains, strict=True):
        (name, first), layers = position[0], [layer for _, layer in position]
        if len({repr(layer) for layer in layers}) == 1 or _linears_with_same_bias(layers):
            steps.append(_step(name, first))
        elif all(type(layer) in ELEMENTWISE and not list(layer.parameters()) for layer in layers):
            steps.append(_per_member(layers))
        else:
            return None
    return steps


class Chain:
    """The members' chain of layers (`chains_of`) as one function of ((members, batch, ...) inputs,
    stacked parameters). `names`: each step's layer name in the members' networks; `observe(name,
    outputs)`, when set, sees every step's (members, batch, ...) outputs (`callbacks.layer_stats`)."""

    def __init__(self, steps: list[Step], names: list[str] | None = None) -> None:
        self.steps = steps
        self.names = names or [str(index) for index in range(len(steps))]
        self.observe: Callable[[str, Tensor], None] | None = None

    def __call__(self, inputs: Tensor, params: dict[str, Tensor]) -> Tensor:
        x = inputs
        observe = self.observe
        for name, step in zip(self.names, self.steps, strict=True):
            x = step(x, params)
            if observe is not None:
                observe(name, x)
        return x
