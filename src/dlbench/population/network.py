"""The members' networks as one: stacked parameters, one vmapped call of the shared architecture.

Every member's `nn.Module` is built exactly as its standalone run builds it (same seed, same
constructor, same initializer), so a member starts from the weights its standalone run starts
from. `torch.func.stack_module_state` stacks their parameters into tensors of shape
(members, ...), and `vmap(functional_call(skeleton, ...))` runs the architecture once over a
(members, batch, ...) input. The skeleton is a copy of the first member's module on the `meta`
device (it holds no numbers; the stacked tensors are passed in), with recurrent layers replaced
by `StepwiseRecurrent` (vmap has no batching rule for the fused LSTM/GRU/RNN kernels).

Why vmap rather than hand-written batched layers: it takes every architecture of the project as
it is (MLP, LeNet, autoencoders, the recurrent models), with the member's own parameter names,
so a member's slice is its standalone state dict with no renaming. Networks that are a plain
chain of linear layers and activations take a faster hand-batched way (`batched`), since on tiny
networks vmap's own cost is most of a step. vmap's randomness is left at
"error": a random operation inside a member's forward (dropout, a denoising autoencoder's noise)
raises instead of silently drawing other numbers than the standalone run would.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from dlbench.population.batched import Chain, chain_of
from dlbench.population.recurrent import make_stepwise


def skeleton_of(model: nn.Module) -> nn.Module:
    """The architecture without numbers: a meta-device copy, recurrent layers made vmappable."""
    skeleton = make_stepwise(copy.deepcopy(model))
    return skeleton.to("meta")


class StackedNetwork(nn.Module):
    """`members` networks of one architecture, trained as one module.

    `parameters()` are the stacked tensors, one `nn.Parameter` of shape (members, ...) per
    parameter of the architecture, in the architecture's order (`names`).
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise ValueError("a population needs at least one member")
        self.members = len(models)
        self._skeleton = [skeleton_of(models[0])]  # a list: not a submodule (it lives on `meta`)
        params, buffers = stack_module_state(list(models))
        self.names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[name].detach().clone()) for name in self.names])
        self.buffer_names = list(buffers)
        for index, name in enumerate(self.buffer_names):
            self.register_buffer(f"buffer_{index}", buffers[name].detach().clone())
        self._call = vmap(self._one, in_dims=(0, 0, 0))
        layers = chain_of(models[0]) if not self.buffer_names else None
        self._chain = Chain(layers) if layers is not None else None  # see dlbench.population.batched

    @property
    def skeleton(self) -> nn.Module:
        return self._skeleton[0]

    def train(self, mode: bool = True) -> StackedNetwork:
        super().train(mode)
        self.skeleton.train(mode)
        return self

    def named_stacked(self) -> dict[str, Tensor]:
        """Parameter name -> stacked tensor (members, ...)."""
        return dict(zip(self.names, self.stacked, strict=True))

    def stacked_buffers(self) -> dict[str, Tensor]:
        return {name: getattr(self, f"buffer_{index}") for index, name in enumerate(self.buffer_names)}

    def _one(self, params: dict[str, Tensor], buffers: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(self.skeleton, (params, buffers), (inputs,))

    def forward(self, inputs: Tensor) -> Tensor:
        """(members, batch, ...) inputs -> (members, batch, ...) outputs, each member with its own weights."""
        if self._chain is not None:
            return self._chain(inputs, self.named_stacked())
        return self._call(self.named_stacked(), self.stacked_buffers(), inputs)

    @torch.no_grad()
    def member_state(self, member: int) -> dict[str, Tensor]:
        """One member's parameters and buffers as its own module's state dict holds them (copies)."""
        state = {name: tensor[member].clone() for name, tensor in self.named_stacked().items()}
        state.update({name: tensor[member].clone() for name, tensor in self.stacked_buffers().items()})
        return state

    @torch.no_grad()
    def load_member_into(self, member: int, model: nn.Module) -> nn.Module:
        """Copy one member's numbers into `model` (a module of the same architecture)."""
        own = dict(model.named_parameters())
        own.update(dict(model.named_buffers()))
        for name, tensor in {**self.named_stacked(), **self.stacked_buffers()}.items():
            own[name].copy_(tensor[member])
        return model
