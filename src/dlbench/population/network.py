"""The members' networks as one: stacked parameters, run in one of three ways.

Every member's `nn.Module` is built exactly as its standalone run builds it (same seed, same
constructor, same initializer), so a member starts from the weights its standalone run starts
from. Their parameters are stacked (as `torch.func.stack_module_state` does, members of other
widths padded to the widest: `dlbench.population.padding`) into tensors of shape (members, ...)
that the optimizer updates at once. Forward (`choose_mode`):

- "chain": a network that is a plain chain of linear layers and activations (MLP, perceptron,
  MLP autoencoder) runs as batched matrix products over members (`dlbench.population.batched`):
  on tiny networks the per-operation cost is the whole step, and this is the fewest operations.
  Equal to each member's forward to float32 rounding (baddbmm against Linear's addmm).
- "loop" (any other network, on the CPU): each member's own modules, one member after another, on
  its slice of the stacked parameters: bit for bit the computation of its standalone run (tested:
  LeNet and LSTM histories equal to the last bit). On a CPU a convolution or an LSTM step is
  arithmetic-bound, so batching members saves little there, while vmap's grouped convolutions
  and the step-by-step LSTM round differently, which chaotic training amplifies.
- "vmap" (any other network, on an accelerator, where batching members fills the device):
  `vmap(functional_call(skeleton, ...))` over a (members, batch, ...) input. The skeleton is a
  meta-device copy of the first member's module (it holds no numbers) with recurrent layers
  replaced by `StepwiseRecurrent` (vmap has no batching rule for the fused LSTM/GRU/RNN kernels).
  vmap's randomness is left at "error": a random operation inside a member's forward raises
  instead of silently drawing other numbers than the standalone run would.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from dlbench.population.batched import Chain, chain_of, chains_of
from dlbench.population.padding import own_part, stack_padded
from dlbench.population.recurrent import make_stepwise


@dataclass
class MemberDraws:
    """What each member draws from torch's random stream while training, kept per member.

    A standalone run draws its input noise (`task.input_noise`), dropout masks and a denoising
    autoencoder's noise from torch's global CPU generator, in that order, step after step; its
    state at the first training step is the state right after the run's build (tested). Each
    member keeps that state (`Member.rng_state`); in "loop" its forward runs with the global
    generator set to it, so it draws exactly the numbers its run alone draws.
    """

    states: list[Tensor]
    input_noise: list[float]


def skeleton_of(model: nn.Module) -> nn.Module:
    """The architecture without numbers: a meta-device copy, recurrent layers made vmappable."""
    skeleton = make_stepwise(copy.deepcopy(model))
    return skeleton.to("meta")


class StackedNetwork(nn.Module):
    """`members` networks of one architecture, trained as one module.

    `parameters()` are the stacked tensors, one `nn.Parameter` of shape (members, ...) per
    parameter of the architecture, in the architecture's order (`names`). Members of one
    architecture but other widths (an MLP's `model.hidden`) are padded to the widest with zeros
    that stay zero (`dlbench.population.padding`); `own_shapes[m]` are member `m`'s own shapes,
    and everything read back for a member is cut to them.
    """

    def __init__(self, models: Sequence[nn.Module], random: bool = False) -> None:
        """`random`: the members draw random numbers while training (dropout, input noise), which
        only "loop" on the CPU reproduces as their standalone runs draw them (see `MemberDraws`)."""
        super().__init__()
        if not models:
            raise ValueError("a population needs at least one member")
        self.members = len(models)
        self._skeleton = [skeleton_of(models[0])]  # a list: not a submodule (it lives on `meta`)
        owns = [{**dict(model.named_parameters()), **dict(model.named_buffers())} for model in models]
        self.own_shapes = [{name: tensor.shape for name, tensor in own.items()} for own in owns]
        self.names = [name for name, _ in models[0].named_parameters()]
        self.buffer_names = [name for name, _ in models[0].named_buffers()]
        self._masks: dict[str, str] = {}  # padded parameter -> its mask buffer (True on the members' own entries)
        stacked = []
        for name in self.names:
            tensor, mask = stack_padded([own[name] for own in owns])
            stacked.append(nn.Parameter(tensor))
            if mask is not None:  # a buffer: it moves with the module; not persistent: in no state dict
                self._masks[name] = f"mask_{len(self._masks)}"
                self.register_buffer(self._masks[name], mask, persistent=False)
        self.stacked = nn.ParameterList(stacked)
        for index, name in enumerate(self.buffer_names):
            self.register_buffer(f"buffer_{index}", stack_padded([own[name] for own in owns])[0])
        self.padded = bool(self._masks)
        self._call = vmap(self._one, in_dims=(0, 0, 0))
        steps = chains_of(list(models)) if not self.buffer_names else None
        names = [name for name, _ in chain_of(models[0]) or []]
        self._chain = Chain(steps, names) if steps is not None else None  # see dlbench.population.batched
        # members may differ in an elementwise activation (grouping.ELEMENTWISE_ACTIVATIONS): the
        # skeleton is one member's architecture, so vmap serves only members of one architecture
        self.same_architecture = len({repr(model) for model in models}) == 1
        self._models = list(models)  # each member's own modules, for "loop"
        self.random = random
        self._leaves: list[dict[str, Tensor]] = []
        self._all_modules: list[nn.Module] | None = None
        self._modules_mode: bool | None = None
        self.mode: str | None = None  # "chain", "vmap" or "loop": chosen at the first forward

    @property
    def skeleton(self) -> nn.Module:
        return self._skeleton[0]

    def _follow_mode(self) -> None:
        """The skeleton and the members' own modules train or evaluate as this module does (they are
        not submodules; Lightning restores each submodule's mode by setting its flag, not by train()).
        The flags are set directly: `train()` on every member's modules twice an epoch was a tenth
        of a tiny model's population fit."""
        if self.mode == "chain" or self._modules_mode == self.training:
            return
        if self._all_modules is None:
            self._all_modules = [m for model in (self.skeleton, *self._models) for m in model.modules()]
        for module in self._all_modules:
            module.__dict__["training"] = self.training
        self._modules_mode = self.training

    def choose_mode(self, device: torch.device) -> str:
        """How the members run (see the module docstring): a chain of linear layers batched; any
        other network on the CPU one member after another with its own modules (exactly its
        standalone computation; on the CPU a convolution or an LSTM is arithmetic-bound, so
        batching saves little, and vmap's grouped convolution and step-by-step LSTM round
        differently); elsewhere vmapped, which fills an accelerator."""
        if self.random or self.buffer_names:
            if device.type != "cpu":
                raise ValueError(
                    "members that draw random numbers or keep batch statistics train together on the CPU only"
                )
            return "loop"
        if self._chain is not None:
            return "chain"
        # members of other widths are other architectures (their reprs differ): never the skeleton's vmap
        return "loop" if device.type == "cpu" or not self.same_architecture else "vmap"

    def named_stacked(self) -> dict[str, Tensor]:
        """Parameter name -> stacked tensor (members, ...)."""
        return dict(zip(self.names, self.stacked, strict=True))

    def stacked_buffers(self) -> dict[str, Tensor]:
        return {name: getattr(self, f"buffer_{index}") for index, name in enumerate(self.buffer_names)}

    def _one(self, params: dict[str, Tensor], buffers: dict[str, Tensor], inputs: Tensor) -> Tensor:
        return functional_call(self.skeleton, (params, buffers), (inputs,))

    def forward(self, inputs: Tensor, draws: MemberDraws | None = None, active: list[bool] | None = None) -> Tensor:
        """(members, batch, ...) inputs -> (members, batch, ...) outputs, each member with its own
        weights; `draws` (training, "loop" only): each member's random stream and input noise;
        `active` (training, "loop" only): members still training; the others are not run (their
        outputs are zeros), so nothing of theirs changes, batch-norm statistics included."""
        if self.mode is None:
            self.mode = self.choose_mode(inputs.device)
        self._follow_mode()
        if self.mode == "chain":
            return self._chain(inputs, self.named_stacked())
        if self.mode == "vmap":
            return self._call(self.named_stacked(), self.stacked_buffers(), inputs)
        leaves = self.member_leaves()
        buffers = self.stacked_buffers()
        kept = torch.random.get_rng_state() if draws is not None else None
        outputs: list[Tensor | None] = []
        for m, leaf in enumerate(leaves):
            if active is not None and not active[m] and (any(active) or m > 0):
                outputs.append(None)
                continue
            x = inputs[m]
            if draws is not None:  # the member's own stream, where its run alone would be now
                torch.random.set_rng_state(draws.states[m])
                if draws.input_noise[m] > 0:  # as Task._step adds it, before the network
                    x = x + draws.input_noise[m] * torch.randn_like(x)
            state = {
                **leaf,
                **{name: own_part(buffer[m], self.own_shapes[m][name]) for name, buffer in buffers.items()},
            }
            outputs.append(functional_call(self._models[m], (state,), (x,)))
            if draws is not None:
                draws.states[m] = torch.random.get_rng_state()
        if kept is not None:
            torch.random.set_rng_state(kept)
        ran = next(output for output in outputs if output is not None)
        return torch.stack([output if output is not None else torch.zeros_like(ran) for output in outputs])

    def member_leaves(self) -> list[dict[str, Tensor]]:
        """For "loop": each member's parameters as tensors of their own (views of the stacked ones,
        so an optimizer step shows in them), whose gradients `gather_grads` stacks."""
        first = self.stacked[0]
        if not self._leaves or self._leaves[0][self.names[0]].data_ptr() != first[0].data_ptr():
            self._leaves = [
                {
                    name: own_part(p.detach()[m], self.own_shapes[m][name]).requires_grad_(True)
                    for name, p in self.named_stacked().items()
                }
                for m in range(self.members)
            ]
        return self._leaves

    def gather_grads(self) -> None:
        """After a backward pass in "loop" mode: the members' gradients as the stacked parameters' `.grad`."""
        if self.mode != "loop" or not self._leaves:
            return
        for name, p in self.named_stacked().items():
            grads = [leaf[name].grad for leaf in self._leaves]
            if all(grad is None for grad in grads):
                continue
            if self.padded:  # each member's own gradient into its part of a zero row
                stacked = torch.zeros_like(p)
                for m, grad in enumerate(grads):
                    if grad is not None:
                        own_part(stacked[m], grad.shape).copy_(grad)
            else:
                stacked = torch.stack([grad if grad is not None else torch.zeros_like(p[0]) for grad in grads])
            p.grad = stacked if p.grad is None else p.grad + stacked
            for leaf in self._leaves:
                leaf[name].grad = None

    @torch.no_grad()
    def mask_grads(self) -> None:
        """After a backward pass: the padded entries' gradients exactly zero (`dlbench.population.padding`).
        An outgoing weight of a padded unit would get the activation at 0 (sigmoid: 0.5) times the
        error; zeroed, the padding and its optimizer state stay zero."""
        for name, p in self.named_stacked().items():
            mask = self._masks.get(name)
            if mask is not None and p.grad is not None:
                p.grad.masked_fill_(~getattr(self, mask), 0.0)

    def own(self, member: int, name: str, row: Tensor) -> Tensor:
        """Member `member`'s own part (a view) of `row`, its slice of the stacked tensor `name`."""
        return own_part(row, self.own_shapes[member][name])

    @torch.no_grad()
    def member_state(self, member: int) -> dict[str, Tensor]:
        """One member's parameters and buffers as its own module's state dict holds them (copies)."""
        stacked = {**self.named_stacked(), **self.stacked_buffers()}
        return {name: self.own(member, name, tensor[member]).clone() for name, tensor in stacked.items()}

    @torch.no_grad()
    def load_member_into(self, member: int, model: nn.Module) -> nn.Module:
        """Copy one member's numbers into `model` (a module of the same architecture, its own widths)."""
        own = dict(model.named_parameters())
        own.update(dict(model.named_buffers()))
        for name, tensor in {**self.named_stacked(), **self.stacked_buffers()}.items():
            own[name].copy_(self.own(member, name, tensor[member]))
        return model
